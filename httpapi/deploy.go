package httpapi

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/errs"
)

// deployRoutes are the deployment routes of the API reference (section 6).
// GET|PATCH /{slug}/settings are in git.go. A platform without a runtime
// answers 503 on every one.
func (h *Handler) deployRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/{slug}/deploy", Auth: true, Description: `Deploy the project's repository: {"repo_url?" (must be the project's own git_repo_url), "branch?" (default main)} → {"status": "pending", "deployment_id", "url"}`,
			In: OptionalBody(mosaic.DeployRequest{}), Out: mosaic.DeployStarted{}, Status: http.StatusAccepted, handle: h.deploy},
		{Method: "GET", Path: "/{slug}/deploy/status", Auth: true, Description: "Deployment status: pending, building, running, failed, stopped, crashed or none; the latest and the live deployment", Out: mosaic.DeployStatus{}, handle: h.deployStatus},
		{Method: "GET", Path: "/{slug}/deploy/history", Auth: true, Description: "Deployment history, newest first: ?limit=10 (at most 100)", Out: DeployHistory{}, handle: h.deployHistory},
		{Method: "GET", Path: "/{slug}/deploy/logs", Auth: true, Description: "Build log of the latest deployment and the app's output; ?follow=true streams them as text", Out: deployer.LogSnapshot{}, handle: h.deployLogs},
		{Method: "DELETE", Path: "/{slug}/deploy", Auth: true, Description: "Destroy the deployment: the app, its build and its route (the history stays)", Out: DeployDestroyed{}, handle: h.destroyDeployment},
		{Method: "POST", Path: "/{slug}/restart", Auth: true, Description: "Restart the app and wait until it answers", Out: mosaic.DeployStatus{}, handle: h.appOp((*mosaic.Platform).RestartApp)},
		{Method: "POST", Path: "/{slug}/stop", Auth: true, Description: "Stop the app; its site answers 503 until started", Out: mosaic.DeployStatus{}, handle: h.appOp((*mosaic.Platform).StopApp)},
		{Method: "POST", Path: "/{slug}/start", Auth: true, Description: "Start the stopped app and wait until it answers", Out: mosaic.DeployStatus{}, handle: h.appOp((*mosaic.Platform).StartApp)},
	}
}

func (h *Handler) deploy(w http.ResponseWriter, r *http.Request) error {
	var in mosaic.DeployRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	d, err := h.p.Deploy(r.Context(), principal(r).Account.ID, r.PathValue("slug"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, d)
	return nil
}

func (h *Handler) deployStatus(w http.ResponseWriter, r *http.Request) error {
	s, err := h.p.DeployStatus(r.Context(), principal(r).Account.ID, r.PathValue("slug"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

// DeployHistory is the body of GET /{slug}/deploy/history.
type DeployHistory struct {
	Deployments []deployer.Deployment `json:"deployments"`
}

func (h *Handler) deployHistory(w http.ResponseWriter, r *http.Request) error {
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > mosaic.MaxDeployHistory {
			return errs.New(errs.Invalid, "invalid_limit", "limit must be a whole number between 1 and %d", mosaic.MaxDeployHistory)
		}
		limit = n
	}
	ds, err := h.p.DeployHistory(r.Context(), principal(r).Account.ID, r.PathValue("slug"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, DeployHistory{Deployments: ds})
	return nil
}

func (h *Handler) deployLogs(w http.ResponseWriter, r *http.Request) error {
	follow := false
	if s := r.URL.Query().Get("follow"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errs.New(errs.Invalid, "invalid_follow", "follow must be true or false")
		}
		follow = b
	}
	owner, slug := principal(r).Account.ID, r.PathValue("slug")
	if !follow {
		s, err := h.p.DeployLogs(r.Context(), owner, slug)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s)
		return nil
	}
	// Errors found before the first byte (no project, no deployment) are
	// JSON; after it, the stream just ends.
	fw := &streamWriter{w: w, rc: http.NewResponseController(w)}
	err := h.p.FollowDeployLogs(r.Context(), owner, slug, fw)
	if err != nil && !fw.started {
		return err
	}
	return nil
}

// streamWriter sends the headers on the first write and flushes every write.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		s.w.Header().Set("X-Content-Type-Options", "nosniff")
		s.w.Header().Set("Cache-Control", "no-store")
		s.w.WriteHeader(http.StatusOK)
	}
	n, err := s.w.Write(p)
	if err == nil {
		s.rc.Flush()
	}
	return n, err
}

var _ io.Writer = (*streamWriter)(nil)

// DeployDestroyed is the body of DELETE /{slug}/deploy.
type DeployDestroyed struct {
	Destroyed bool `json:"destroyed"`
}

func (h *Handler) destroyDeployment(w http.ResponseWriter, r *http.Request) error {
	if err := h.p.DestroyDeployment(r.Context(), principal(r).Account.ID, r.PathValue("slug")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, DeployDestroyed{Destroyed: true})
	return nil
}

func (h *Handler) appOp(op func(*mosaic.Platform, context.Context, uuid.UUID, string) (*mosaic.DeployStatus, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := op(h.p, r.Context(), principal(r).Account.ID, r.PathValue("slug"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s)
		return nil
	}
}
