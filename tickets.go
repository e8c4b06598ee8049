package mosaic

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic/errs"
)

// Ticket is a support request from an account.
type Ticket struct {
	ID          int64      `json:"ticket_id"`
	AccountID   uuid.UUID  `json:"-"`
	ProjectID   *uuid.UUID `json:"project_id"`
	ProjectSlug string     `json:"project_slug,omitempty"`
	Subject     string     `json:"subject"`
	Message     string     `json:"message"`
	Status      string     `json:"status"`
	Response    *string    `json:"response"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// NewTicket asks for a ticket. Project, if set, is a project id or slug of
// the same account.
type NewTicket struct {
	Subject string `json:"subject"`
	Message string `json:"message"`
	Project string `json:"project_id,omitempty"`
}

// Ticket size limits.
const (
	MaxTicketSubject = 200
	MaxTicketMessage = 20_000
)

// CreateTicket files a ticket for an account.
func (p *Platform) CreateTicket(ctx context.Context, owner uuid.UUID, in NewTicket) (*Ticket, error) {
	in.Subject, in.Message = strings.TrimSpace(in.Subject), strings.TrimSpace(in.Message)
	switch {
	case in.Subject == "":
		return nil, errs.New(errs.Invalid, "invalid_subject", "a ticket needs a subject")
	case len([]rune(in.Subject)) > MaxTicketSubject:
		return nil, errs.New(errs.Invalid, "invalid_subject", "a ticket subject has at most %d characters", MaxTicketSubject)
	case in.Message == "":
		return nil, errs.New(errs.Invalid, "invalid_message", "a ticket needs a message")
	case len([]rune(in.Message)) > MaxTicketMessage:
		return nil, errs.New(errs.TooLarge, "message_too_long", "a ticket message has at most %d characters", MaxTicketMessage)
	case strings.ContainsFunc(in.Subject, unicode.IsControl):
		return nil, errs.New(errs.Invalid, "invalid_subject", "a ticket subject is one line of text, without control characters")
	case strings.ContainsRune(in.Message, 0):
		return nil, errs.New(errs.Invalid, "invalid_message", "a ticket message must not contain NUL characters")
	}
	t := &Ticket{AccountID: owner, Subject: in.Subject, Message: in.Message, Status: "open"}
	if in.Project != "" {
		var pid uuid.UUID
		var slug string
		var err error
		if id, perr := uuid.Parse(in.Project); perr == nil {
			err = p.db.QueryRow(ctx, `SELECT id, slug FROM mosaic.projects WHERE id = $1 AND account_id = $2`, id, owner).Scan(&pid, &slug)
		} else {
			err = p.db.QueryRow(ctx, `SELECT id, slug FROM mosaic.projects WHERE slug = $1 AND account_id = $2`, in.Project, owner).Scan(&pid, &slug)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, notFound(in.Project)
		}
		if err != nil {
			return nil, dbError(err, "find ticket project")
		}
		t.ProjectID, t.ProjectSlug = &pid, slug
	}
	err := p.db.QueryRow(ctx, `INSERT INTO mosaic.tickets (account_id, project_id, subject, message)
		VALUES ($1, $2, $3, $4) RETURNING id, status, created_at, updated_at`,
		owner, t.ProjectID, t.Subject, t.Message).Scan(&t.ID, &t.Status, &t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return nil, dbError(err, "create ticket")
	}
	return t, nil
}

const ticketCols = `t.id, t.account_id, t.project_id, coalesce(p.slug, ''), t.subject, t.message, t.status, t.response, t.created_at, t.updated_at`

func scanTicket(r pgx.Row) (Ticket, error) {
	var t Ticket
	err := r.Scan(&t.ID, &t.AccountID, &t.ProjectID, &t.ProjectSlug, &t.Subject, &t.Message, &t.Status, &t.Response, &t.CreatedAt, &t.UpdatedAt)
	return t, err
}

// Tickets lists an account's tickets, newest first.
func (p *Platform) Tickets(ctx context.Context, owner uuid.UUID) ([]Ticket, error) {
	rows, err := p.db.Query(ctx, `SELECT `+ticketCols+` FROM mosaic.tickets t LEFT JOIN mosaic.projects p ON p.id = t.project_id
		WHERE t.account_id = $1 ORDER BY t.id DESC LIMIT 1000`, owner)
	if err != nil {
		return nil, dbError(err, "list tickets")
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ticket, error) { return scanTicket(r) })
	if err != nil {
		return nil, dbError(err, "list tickets")
	}
	return ts, nil
}

// Ticket returns one of the account's tickets; another account's is NotFound.
func (p *Platform) Ticket(ctx context.Context, owner uuid.UUID, id int64) (*Ticket, error) {
	t, err := scanTicket(p.db.QueryRow(ctx, `SELECT `+ticketCols+` FROM mosaic.tickets t LEFT JOIN mosaic.projects p ON p.id = t.project_id
		WHERE t.id = $1 AND t.account_id = $2`, id, owner))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.New(errs.NotFound, "ticket_not_found", "ticket %d not found", id)
	}
	if err != nil {
		return nil, dbError(err, "get ticket")
	}
	return &t, nil
}
