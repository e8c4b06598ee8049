package client

import (
	"context"
	"encoding/base64"
	"net/http"
	"time"
)

// PutFileRequest commits one file. Content is sent base64-encoded.
type PutFileRequest struct {
	Path    string
	Content []byte
	Message string
	Branch  string
}

// FileCommit is the answer of POST /{slug}/git/files.
type FileCommit struct {
	SHA     string `json:"sha"`
	Path    string `json:"path"`
	Branch  string `json:"branch"`
	Message string `json:"message"`
	Parent  string `json:"parent,omitempty"`
}

// PutFile commits one file to the project's repository. It is not retried.
func (c *Client) PutFile(ctx context.Context, slug string, r PutFileRequest) (*FileCommit, error) {
	body := map[string]any{"path": r.Path, "content": base64.StdEncoding.EncodeToString(r.Content), "message": r.Message}
	if r.Branch != "" {
		body["branch"] = r.Branch
	}
	var out FileCommit
	return &out, c.Do(ctx, http.MethodPost, "/"+esc(slug)+"/git/files", body, &out)
}

// Settings are a project's deployment settings.
type Settings struct {
	AutoDeploy bool   `json:"auto_deploy"`
	WebhookID  *int64 `json:"gitea_webhook_id"`
}

// Settings returns the project's deployment settings.
func (c *Client) Settings(ctx context.Context, slug string) (*Settings, error) {
	var s Settings
	return &s, c.Do(ctx, http.MethodGet, "/"+esc(slug)+"/settings", nil, &s)
}

// SetAutoDeploy turns auto-deploy on or off.
func (c *Client) SetAutoDeploy(ctx context.Context, slug string, on bool) (*Settings, error) {
	var s Settings
	return &s, c.Do(ctx, http.MethodPatch, "/"+esc(slug)+"/settings", map[string]bool{"auto_deploy": on}, &s)
}

// Webhook is a registered webhook; Secret is set only in CreateWebhook's answer.
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateWebhook registers url for the project's events (none: every event).
func (c *Client) CreateWebhook(ctx context.Context, slug, url string, events ...string) (*Webhook, error) {
	var h Webhook
	return &h, c.Do(ctx, http.MethodPost, "/"+esc(slug)+"/webhooks", map[string]any{"url": url, "events": events}, &h)
}

// Webhooks lists the project's webhooks.
func (c *Client) Webhooks(ctx context.Context, slug string) ([]Webhook, error) {
	var out struct {
		Webhooks []Webhook `json:"webhooks"`
	}
	return out.Webhooks, c.Do(ctx, http.MethodGet, "/"+esc(slug)+"/webhooks", nil, &out)
}

// DeleteWebhook removes a webhook.
func (c *Client) DeleteWebhook(ctx context.Context, slug, id string) error {
	return c.Do(ctx, http.MethodDelete, "/"+esc(slug)+"/webhooks/"+esc(id), nil, nil)
}
