package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

const deployNodeServer = `require('http').createServer((req, res) => res.end('api app ' + process.env.MOSAIC_PROJECT))
  .listen(process.env.PORT, '127.0.0.1', () => console.log('ready on ' + process.env.PORT));
`

// TestDeployRoutes drives the deployment routes through the client: a file
// push with "deploy": true answers the spec's deploy block; status,
// history, logs (also followed as a stream), stop/start/restart and
// destroy answer JSON; user mistakes are 4xx.
func TestDeployRoutes(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"git", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	env := mosaictest.New(t)
	ctx := context.Background()
	cp := env.Project(t)
	c := env.Client

	// Nothing to deploy yet: 400, and status "none".
	if _, err := c.Deploy(ctx, cp.Slug, ""); !errors.Is(err, mosaic.ErrInvalid) {
		t.Errorf("deploy of an empty repository: %v", err)
	}
	if st, err := c.DeployStatus(ctx, cp.Slug); err != nil || st.Status != "none" {
		t.Errorf("status before any deployment: %+v %v", st, err)
	}
	if _, err := c.DeployLogs(ctx, cp.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("logs before any deployment: %v", err)
	}

	if _, err := c.PutFile(ctx, cp.Slug, client.PutFileRequest{Path: "package.json", Content: []byte(`{"name":"x","main":"server.js"}`)}); err != nil {
		t.Fatal(err)
	}
	fc, dep, err := c.PushFileAndDeploy(ctx, cp.Slug, client.PutFileRequest{Path: "server.js", Content: []byte(deployNodeServer), Message: "the server"})
	if err != nil {
		t.Fatal(err)
	}
	if dep == nil || dep.Status != "pending" || dep.DeploymentID == "" || !strings.HasPrefix(dep.URL, "http://"+cp.Slug+".") || fc.SHA == "" {
		t.Fatalf("file push with deploy: %+v %+v", fc, dep)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	d, err := c.WaitDeploy(wctx, cp.Slug, dep.DeploymentID)
	if err != nil || d.Status != "running" || d.Trigger != "file_push" || d.CommitSHA != fc.SHA || d.Stack != "node" {
		t.Fatalf("deployment %+v %v", d, err)
	}
	st, err := c.DeployStatus(ctx, cp.Slug)
	if err != nil || st.Status != "running" || st.URL != dep.URL || st.Live == nil || st.Instance == nil || st.Instance.Runtime != "process" || st.Instance.MemoryBytes == 0 {
		t.Errorf("status %+v %v", st, err)
	}
	logs, err := c.DeployLogs(ctx, cp.Slug)
	if err != nil || !strings.Contains(logs.Build, "detected node") || !strings.Contains(logs.Runtime, "ready on") {
		t.Errorf("logs %+v %v", logs, err)
	}

	// Follow: the stream carries the build log, then the app's output, and
	// ends when the app stops.
	lines := make(chan string, 100)
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	go func() {
		pr, pw := io.Pipe()
		go func() { c.FollowDeployLogs(fctx, cp.Slug, pw); pw.Close() }()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	sawOutput := false
	for l := range lines {
		if strings.Contains(l, "ready on") {
			sawOutput = true
			break
		}
	}
	if !sawOutput {
		t.Error("the followed logs never showed the app's output")
	}
	if st, err := c.StopApp(ctx, cp.Slug); err != nil || st.Status != "stopped" {
		t.Errorf("stop %+v %v", st, err)
	}
	for range lines { // the stream ends with the app
	}
	if st, err := c.StartApp(ctx, cp.Slug); err != nil || st.Status != "running" {
		t.Errorf("start %+v %v", st, err)
	}
	if st, err := c.RestartApp(ctx, cp.Slug); err != nil || st.Status != "running" {
		t.Errorf("restart %+v %v", st, err)
	}
	// A manual deploy naming the project's own repository URL.
	a := do(t, env, call{method: "POST", path: "/" + cp.Slug + "/deploy", body: `{"repo_url": "` + env.Platform.GitRepoURL(cp.Slug) + `", "branch": "main"}`})
	if a.status != http.StatusAccepted || a.json["status"] != "pending" || a.json["deployment_id"] == nil {
		t.Errorf("deploy: %d %s", a.status, a.body)
	}
	hist, err := c.DeployHistory(ctx, cp.Slug, 1)
	if err != nil || len(hist) != 1 || hist[0].Trigger != "manual" {
		t.Errorf("history %+v %v", hist, err)
	}
	if _, err := c.WaitDeploy(wctx, cp.Slug, hist[0].ID); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"foreign repo_url", "POST", "/deploy", `{"repo_url": "https://github.com/someone/else.git"}`, 400, "repo_url_not_allowed"},
		{"bad branch", "POST", "/deploy", `{"branch": "../x"}`, 400, ""},
		{"missing branch", "POST", "/deploy", `{"branch": "nope"}`, 400, "nothing_to_deploy"},
		{"repo_url wrong type", "POST", "/deploy", `{"repo_url": 5}`, 400, "invalid_type"},
		{"not json", "POST", "/deploy", `{`, 400, ""},
		{"limit zero", "GET", "/deploy/history?limit=0", "", 400, "invalid_limit"},
		{"limit huge", "GET", "/deploy/history?limit=1000", "", 400, "invalid_limit"},
		{"limit text", "GET", "/deploy/history?limit=ten", "", 400, "invalid_limit"},
		{"follow text", "GET", "/deploy/logs?follow=maybe", "", 400, "invalid_follow"},
		{"wrong method", "PUT", "/deploy", "", 405, "method_not_allowed"},
	} {
		a := do(t, env, call{method: tc.method, path: "/" + cp.Slug + tc.path, body: tc.body})
		if a.status != tc.status || (tc.code != "" && a.json["error"] != tc.code) || a.json["detail"] == nil {
			t.Errorf("%s: %d %s, want %d %s", tc.name, a.status, a.body, tc.status, tc.code)
		}
	}

	// Another account: 404 on every route; no key: 401.
	_, otherKey, other := env.NewAccount(t)
	for _, r := range [][2]string{{"POST", "/deploy"}, {"GET", "/deploy/status"}, {"GET", "/deploy/history"}, {"GET", "/deploy/logs"},
		{"GET", "/deploy/logs?follow=true"}, {"DELETE", "/deploy"}, {"POST", "/restart"}, {"POST", "/stop"}, {"POST", "/start"}} {
		if a := do(t, env, call{method: r[0], path: "/" + cp.Slug + r[1], key: otherKey}); a.status != 404 {
			t.Errorf("another account's %s %s: %d %s", r[0], r[1], a.status, a.body)
		}
		if a := do(t, env, call{method: r[0], path: "/" + cp.Slug + r[1], key: "-"}); a.status != 401 {
			t.Errorf("no key %s %s: %d", r[0], r[1], a.status)
		}
	}
	if _, _, err := other.PushFileAndDeploy(ctx, cp.Slug, client.PutFileRequest{Path: "x", Content: []byte("x")}); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account's file push with deploy: %v", err)
	}

	if err := c.DestroyDeployment(ctx, cp.Slug); err != nil {
		t.Fatal(err)
	}
	if st, err := c.DeployStatus(ctx, cp.Slug); err != nil || st.Status != string(deployer.StatusInactive) || st.Live != nil {
		t.Errorf("status after destroy: %+v %v", st, err)
	}
	if err := c.DestroyDeployment(ctx, cp.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("destroy twice: %v", err)
	}
}
