package client

import (
	"context"
	"encoding/base64"
	"net/http"
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
