package client

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
)

// DeployStarted is the answer to a deploy request, and the "deploy" block of
// a file push with deploy.
type DeployStarted struct {
	Status       string `json:"status"`
	DeploymentID string `json:"deployment_id"`
	URL          string `json:"url"`
}

// Deployment is one row of the deployment history.
type Deployment struct {
	ID            string     `json:"id"`
	ProjectID     string     `json:"project_id"`
	Trigger       string     `json:"trigger"` // manual, git_push, file_push
	Branch        string     `json:"branch"`
	CommitSHA     string     `json:"commit_sha"`
	CommitMessage string     `json:"commit_message"`
	Stack         string     `json:"stack,omitempty"`
	Status        string     `json:"status"`
	Error         string     `json:"error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	DurationMS    int64      `json:"duration_ms"`
}

// DeployInstance is the live instance's runtime state and limits.
type DeployInstance struct {
	Name        string    `json:"name"`
	State       string    `json:"state"`
	Runtime     string    `json:"runtime"`
	StartedAt   time.Time `json:"started_at"`
	MemoryBytes int64     `json:"memory_bytes"`
	NanoCPUs    int64     `json:"nano_cpus"`
}

// DeployStatus is GET /{slug}/deploy/status.
type DeployStatus struct {
	// Status: pending, building, failed (the latest deployment), running,
	// stopped, crashed (the live app), inactive (destroyed) or none.
	Status     string          `json:"status"`
	URL        string          `json:"url"`
	Deployment *Deployment     `json:"deployment"`
	Live       *Deployment     `json:"live"`
	Instance   *DeployInstance `json:"instance,omitempty"`
}

// DeployLogs is GET /{slug}/deploy/logs.
type DeployLogs struct {
	DeploymentID string `json:"deployment_id"`
	Status       string `json:"status"`
	Build        string `json:"build"`
	Runtime      string `json:"runtime"`
}

// Deploy starts a deployment of the project's repository (branch "" is
// main). It returns at once; poll DeployStatus or use WaitDeploy.
func (c *Client) Deploy(ctx context.Context, slug, branch string) (*DeployStarted, error) {
	body := map[string]string{}
	if branch != "" {
		body["branch"] = branch
	}
	var out DeployStarted
	return &out, c.Do(ctx, http.MethodPost, "/"+esc(slug)+"/deploy", body, &out)
}

// DeployStatus returns the project's deployment state.
func (c *Client) DeployStatus(ctx context.Context, slug string) (*DeployStatus, error) {
	var out DeployStatus
	return &out, c.Do(ctx, http.MethodGet, "/"+esc(slug)+"/deploy/status", nil, &out)
}

// WaitDeploy polls the status until the deployment id is finished (running,
// failed, superseded...) or ctx is done, and returns its history row.
func (c *Client) WaitDeploy(ctx context.Context, slug, id string) (*Deployment, error) {
	for {
		ds, err := c.DeployHistory(ctx, slug, 20)
		if err != nil {
			return nil, err
		}
		for i := range ds {
			if ds[i].ID == id && ds[i].Status != "pending" && ds[i].Status != "building" {
				return &ds[i], nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, errs.Wrap(errs.Unavailable, ctx.Err(), "timeout", "deployment %s did not finish in time", id)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// DeployHistory lists the project's deployments, newest first (limit 0: 10).
func (c *Client) DeployHistory(ctx context.Context, slug string, limit int) ([]Deployment, error) {
	path := "/" + esc(slug) + "/deploy/history"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var out struct {
		Deployments []Deployment `json:"deployments"`
	}
	return out.Deployments, c.Do(ctx, http.MethodGet, path, nil, &out)
}

// DeployLogs returns the latest build log and the app's output.
func (c *Client) DeployLogs(ctx context.Context, slug string) (*DeployLogs, error) {
	var out DeployLogs
	return &out, c.Do(ctx, http.MethodGet, "/"+esc(slug)+"/deploy/logs", nil, &out)
}

// FollowDeployLogs streams the build log and then the app's output to w
// until ctx is done or the app stops.
func (c *Client) FollowDeployLogs(ctx context.Context, slug string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/"+esc(slug)+"/deploy/logs?follow=true", nil)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "invalid_request", "cannot build the request")
	}
	req.Header.Set("X-API-Key", c.key)
	hc := *c.hc
	hc.Timeout = 0 // a stream: ctx bounds it
	resp, err := hc.Do(req)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "transport", "cannot reach the Mosaic API: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return decodeError(resp, data)
	}
	_, err = io.Copy(w, resp.Body)
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// DestroyDeployment removes the project's app, its build and its route.
func (c *Client) DestroyDeployment(ctx context.Context, slug string) error {
	return c.Do(ctx, http.MethodDelete, "/"+esc(slug)+"/deploy", nil, nil)
}

// StopApp stops the project's app.
func (c *Client) StopApp(ctx context.Context, slug string) (*DeployStatus, error) {
	return c.appOp(ctx, slug, "stop")
}

// StartApp starts the project's stopped app.
func (c *Client) StartApp(ctx context.Context, slug string) (*DeployStatus, error) {
	return c.appOp(ctx, slug, "start")
}

// RestartApp restarts the project's app.
func (c *Client) RestartApp(ctx context.Context, slug string) (*DeployStatus, error) {
	return c.appOp(ctx, slug, "restart")
}

func (c *Client) appOp(ctx context.Context, slug, op string) (*DeployStatus, error) {
	var out DeployStatus
	return &out, c.Do(ctx, http.MethodPost, "/"+esc(slug)+"/"+op, nil, &out)
}

// PushFileAndDeploy commits one file, like PutFile, and deploys that commit
// ("deploy": true). It is not retried.
func (c *Client) PushFileAndDeploy(ctx context.Context, slug string, r PutFileRequest) (*FileCommit, *DeployStarted, error) {
	body := map[string]any{"path": r.Path, "content": base64.StdEncoding.EncodeToString(r.Content), "message": r.Message, "deploy": true}
	if r.Branch != "" {
		body["branch"] = r.Branch
	}
	var out struct {
		FileCommit
		Deploy *DeployStarted `json:"deploy"`
	}
	if err := c.Do(ctx, http.MethodPost, "/"+esc(slug)+"/git/files", body, &out); err != nil {
		return nil, nil, err
	}
	return &out.FileCommit, out.Deploy, nil
}
