package httpapi

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
)

func (h *Handler) webhookRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/{slug}/webhooks", Auth: true, Description: `Register a webhook for push (and later deploy) events: {"url", "events?"} → its id and signing secret (shown once)`, In: CreateWebhookRequest{}, Out: mosaic.Webhook{}, Status: http.StatusCreated, handle: h.createWebhook},
		{Method: "GET", Path: "/{slug}/webhooks", Auth: true, Description: "List the project's webhooks (secrets are not shown)", Out: WebhookList{}, handle: h.listWebhooks},
		{Method: "DELETE", Path: "/{slug}/webhooks/{id}", Auth: true, Description: "Remove a webhook", Out: WebhookDeleted{}, handle: h.deleteWebhook},
	}
}

func (h *Handler) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	hook, err := h.p.CreateWebhook(r.Context(), principal(r).Account.ID, r.PathValue("slug"), in.URL, in.Events)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, hook)
	return nil
}

// WebhookList is the body of GET /{slug}/webhooks.
type WebhookList struct {
	Webhooks []mosaic.Webhook `json:"webhooks"`
}

func (h *Handler) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	hs, err := h.p.Webhooks(r.Context(), principal(r).Account.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	if hs == nil {
		hs = []mosaic.Webhook{}
	}
	writeJSON(w, http.StatusOK, WebhookList{Webhooks: hs})
	return nil
}

func (h *Handler) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errs.New(errs.NotFound, "webhook_not_found", "webhook %q not found", r.PathValue("id"))
	}
	if err := h.p.DeleteWebhook(r.Context(), principal(r).Account.ID, r.PathValue("slug"), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"deleted": true})
	return nil
}
