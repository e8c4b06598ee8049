package httpapi

import (
	"encoding/base64"
	"net/http"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
)

// maxGitFileBody bounds POST /{slug}/git/files: a 10 MiB file in base64 plus
// the other fields.
const maxGitFileBody = gitpush.DefaultMaxFileBytes*4/3 + 64<<10

func (h *Handler) gitRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/{slug}/git/files", Auth: true, MaxBody: maxGitFileBody,
			Description: `Commit one file to the project's repository: {"path", "content" (base64), "message", "branch?", "deploy?"}`, In: GitFileRequest{}, Out: GitFileResponse{}, Status: http.StatusCreated, handle: h.putGitFile},
		{Method: "GET", Path: "/{slug}/settings", Auth: true, Description: "Auto-deploy settings", Out: settingsBody{}, handle: h.getSettings},
		{Method: "PATCH", Path: "/{slug}/settings", Auth: true, Description: `Toggle auto-deploy: {"auto_deploy": true|false}`, In: SettingsRequest{}, Out: settingsBody{}, handle: h.patchSettings},
	}
}

// GitFileResponse is the body of POST /{slug}/git/files.
type GitFileResponse struct {
	SHA     string `json:"sha"`
	Path    string `json:"path"`
	Branch  string `json:"branch"`
	Message string `json:"message"`
	Parent  string `json:"parent,omitempty"`
	// Deploy is set when the request said "deploy": true (see deploy.go).
	Deploy *mosaic.DeployStarted `json:"deploy,omitempty"`
}

func (h *Handler) putGitFile(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Path    string  `json:"path"`
		Content *string `json:"content"`
		Message string  `json:"message"`
		Branch  string  `json:"branch"`
		Deploy  bool    `json:"deploy"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Content == nil {
		return errs.New(errs.Invalid, "invalid_content", `"content" is required: the file's bytes in base64`)
	}
	if err := gitpush.CheckPath(in.Path); err != nil {
		return err
	}
	content, err := base64.StdEncoding.DecodeString(*in.Content)
	if err != nil {
		return errs.New(errs.Invalid, "invalid_content", `"content" is not valid base64 (standard alphabet, with padding)`)
	}
	// With "deploy", a platform without deployments refuses before committing.
	c, dep, err := h.p.PushFile(r.Context(), principal(r).Account.ID, r.PathValue("slug"), gitpush.File{
		Path: in.Path, Content: content, Message: in.Message, Branch: in.Branch}, in.Deploy)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, GitFileResponse{SHA: c.SHA, Path: in.Path, Branch: c.Branch, Message: c.Message, Parent: c.Parent, Deploy: dep})
	return nil
}

func (h *Handler) getSettings(w http.ResponseWriter, r *http.Request) error {
	s, err := h.p.ProjectSettings(r.Context(), principal(r).Account.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (h *Handler) patchSettings(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		AutoDeploy *bool `json:"auto_deploy"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.AutoDeploy == nil {
		return errs.New(errs.Invalid, "invalid_settings", `send {"auto_deploy": true} or {"auto_deploy": false}`)
	}
	s, err := h.p.UpdateSettings(r.Context(), principal(r).Account.ID, r.PathValue("slug"), in.AutoDeploy)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}
