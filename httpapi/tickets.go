package httpapi

import (
	"net/http"
	"strconv"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
)

// TicketCreated is the body of POST /tickets.
type TicketCreated struct {
	TicketID int64         `json:"ticket_id"`
	Status   string        `json:"status"`
	Message  string        `json:"message"`
	Ticket   mosaic.Ticket `json:"ticket"`
}

func (h *Handler) createTicket(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Subject   string `json:"subject"`
		Message   string `json:"message"`
		ProjectID string `json:"project_id"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	t, err := h.p.CreateTicket(r.Context(), principal(r).Account.ID, mosaic.NewTicket{Subject: in.Subject, Message: in.Message, Project: in.ProjectID})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, TicketCreated{TicketID: t.ID, Status: t.Status, Message: "Ticket submitted successfully.", Ticket: *t})
	return nil
}

// TicketList is the body of GET /tickets.
type TicketList struct {
	Tickets []mosaic.Ticket `json:"tickets"`
}

func (h *Handler) listTickets(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.p.Tickets(r.Context(), principal(r).Account.ID)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []mosaic.Ticket{}
	}
	writeJSON(w, http.StatusOK, TicketList{Tickets: ts})
	return nil
}

func (h *Handler) getTicket(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return errs.New(errs.NotFound, "ticket_not_found", "ticket %q not found", r.PathValue("id"))
	}
	t, err := h.p.Ticket(r.Context(), principal(r).Account.ID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}
