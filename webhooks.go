package mosaic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush/webhook"
)

// Webhook is a receiver a project registered for its events. Secret, the
// HMAC-SHA256 key of the X-Mosaic-Signature header, is shown only when the
// webhook is created.
type Webhook struct {
	ID        uuid.UUID `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// MaxWebhooks is how many webhooks one project may register.
const MaxWebhooks = 10

var webhookEvents = []string{webhook.EventPush, "deploy"}

// newWebhooks starts webhook delivery for push events when git hosting is on.
func (p *Platform) newWebhooks() error {
	if p.git == nil {
		return nil
	}
	w, err := webhook.New(webhook.Config{Store: webhookStore{p}, AllowPrivate: p.cfg.WebhookAllowPrivate, Logger: p.log})
	if err != nil {
		return err
	}
	p.hooks = w
	p.git.OnPush(w.OnPush)
	return nil
}

// CreateWebhook registers url for one of owner's projects' events (empty:
// every event). The answer carries the signing secret, shown only here.
func (p *Platform) CreateWebhook(ctx context.Context, owner uuid.UUID, slug, url string, events []string) (*Webhook, error) {
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	if err := webhook.ValidateURL(url); err != nil {
		return nil, err
	}
	for _, e := range events {
		if !slices.Contains(webhookEvents, e) {
			return nil, errs.New(errs.Invalid, "invalid_event", "unknown event %q; events are %v", e, webhookEvents)
		}
	}
	var secret [32]byte
	rand.Read(secret[:])
	h := &Webhook{ID: uuid.New(), URL: url, Events: nonNil(events), Secret: "whsec_" + hex.EncodeToString(secret[:])}
	err = p.db.QueryRow(ctx, `INSERT INTO mosaic.webhooks (id, project_id, url, secret, events)
		SELECT $1, $2, $3, $4, $5 WHERE (SELECT count(*) FROM mosaic.webhooks WHERE project_id = $2) < $6
		RETURNING created_at`, h.ID, t.pr.ID, url, p.seal.seal([]byte(h.Secret), h.ID[:]), h.Events, MaxWebhooks).Scan(&h.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.New(errs.Quota, "too_many_webhooks", "a project may register at most %d webhooks", MaxWebhooks)
	}
	if err != nil {
		return nil, dbError(err, "create webhook")
	}
	return h, nil
}

// Webhooks lists one of owner's projects' webhooks, without their secrets.
func (p *Platform) Webhooks(ctx context.Context, owner uuid.UUID, slug string) ([]Webhook, error) {
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	rows, err := p.db.Query(ctx, `SELECT id, url, events, created_at FROM mosaic.webhooks WHERE project_id = $1 ORDER BY created_at, id`, t.pr.ID)
	if err != nil {
		return nil, dbError(err, "list webhooks")
	}
	hs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Webhook, error) {
		var h Webhook
		return h, r.Scan(&h.ID, &h.URL, &h.Events, &h.CreatedAt)
	})
	if err != nil {
		return nil, dbError(err, "list webhooks")
	}
	return hs, nil
}

// DeleteWebhook removes one of owner's projects' webhooks.
func (p *Platform) DeleteWebhook(ctx context.Context, owner uuid.UUID, slug string, id uuid.UUID) error {
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return err
	}
	tag, err := p.db.Exec(ctx, `DELETE FROM mosaic.webhooks WHERE id = $1 AND project_id = $2`, id, t.pr.ID)
	if err != nil {
		return dbError(err, "delete webhook")
	}
	if tag.RowsAffected() == 0 {
		return errs.New(errs.NotFound, "webhook_not_found", "webhook %s not found", id)
	}
	return nil
}

// webhookStore gives the delivery package a project's hooks, by slug.
type webhookStore struct{ p *Platform }

func (s webhookStore) Hooks(ctx context.Context, slug string) ([]webhook.Hook, error) {
	rows, err := s.p.db.Query(ctx, `SELECT w.id, w.url, w.secret, w.events FROM mosaic.webhooks w
		JOIN mosaic.projects p ON p.id = w.project_id WHERE p.slug = $1`, slug)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Hook, error) {
		var (
			id     uuid.UUID
			sealed []byte
			h      = webhook.Hook{Project: slug}
		)
		if err := r.Scan(&id, &h.URL, &sealed, &h.Events); err != nil {
			return h, err
		}
		secret, err := s.p.seal.open(sealed, id[:])
		if err != nil {
			return h, err
		}
		h.ID, h.Secret = id.String(), string(secret)
		return h, nil
	})
}
