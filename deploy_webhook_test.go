package mosaic_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/gitpush/webhook"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestDeployWebhookEvents: a webhook that asks for "deploy" events gets one
// signed event when a deployment ends, running or failed, with the
// deployment's id, commit and site URL; a hook for "push" only gets none.
func TestDeployWebhookEvents(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "go")
	env := mosaictest.New(t)
	ctx := context.Background()
	cp := env.Project(t)

	type delivery struct {
		path, sig string
		body      []byte
	}
	got := make(chan delivery, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.URL.Path, r.Header.Get("X-Mosaic-Signature"), b}
	}))
	defer recv.Close()
	deployHook, err := env.Platform.CreateWebhook(ctx, env.Account.ID, cp.Slug, recv.URL+"/deploy", []string{"deploy"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Platform.CreateWebhook(ctx, env.Account.ID, cp.Slug, recv.URL+"/push", []string{"push"}); err != nil {
		t.Fatal(err)
	}

	next := func(wantStatus deployer.Status, wantID, wantSHA string) {
		t.Helper()
		deadline := time.After(2 * time.Minute)
		for {
			var d delivery
			select {
			case d = <-got:
			case <-deadline:
				t.Fatalf("no deploy event with status %s", wantStatus)
			}
			if d.path == "/push" {
				continue // the file pushes themselves
			}
			if !webhook.Verify(deployHook.Secret, d.body, d.sig) {
				t.Fatalf("deploy event signature %q does not verify", d.sig)
			}
			var p struct {
				Event, Project string
				Data           struct {
					DeploymentID string `json:"deployment_id"`
					Status       deployer.Status
					CommitSHA    string `json:"commit_sha"`
					Error, URL   string
				}
			}
			if err := json.Unmarshal(d.body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Event != "deploy" || p.Project != cp.Slug || p.Data.Status != wantStatus || p.Data.DeploymentID != wantID ||
				p.Data.CommitSHA != wantSHA || p.Data.URL != env.Platform.SiteURL(cp.Slug) {
				t.Fatalf("deploy event %s, want status %s of deployment %s at %s", d.body, wantStatus, wantID, wantSHA)
			}
			if wantStatus == deployer.StatusFailed && p.Data.Error == "" {
				t.Errorf("a failed deployment's event has no error: %s", d.body)
			}
			return
		}
	}

	c, dep := push(t, env, cp.Slug, true, [2]string{"index.html", "<h1>hooked</h1>"})
	env.WaitDeploy(t, cp.Slug, deployer.StatusRunning)
	next(deployer.StatusRunning, dep.DeploymentID, c.SHA)

	// A Go program that does not compile: the deployment fails, and so
	// does its event (the static site above keeps serving).
	c, dep = push(t, env, cp.Slug, true, [2]string{"go.mod", "module broken\n\ngo 1.22\n"},
		[2]string{"main.go", "package main\n\nfunc main() { undefinedHere() }\n"})
	env.WaitDeploy(t, cp.Slug, deployer.StatusFailed)
	next(deployer.StatusFailed, dep.DeploymentID, c.SHA)

	// Stopping, starting and restarting the live app end no deployment:
	// no event.
	if _, err := env.Platform.StopApp(ctx, env.Account.ID, cp.Slug); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Platform.StartApp(ctx, env.Account.ID, cp.Slug); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Platform.RestartApp(ctx, env.Account.ID, cp.Slug); err != nil {
		t.Fatal(err)
	}
	// A last deployment's event marks the end of the queue: nothing may come before it.
	c, dep = push(t, env, cp.Slug, true, goApp("fixed")...)
	env.WaitDeploy(t, cp.Slug, deployer.StatusRunning)
	next(deployer.StatusRunning, dep.DeploymentID, c.SHA)
}
