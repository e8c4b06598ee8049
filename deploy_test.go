package mosaic_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/process"
	"github.com/mosaic-platform/mosaic/gitpush"
	"github.com/mosaic-platform/mosaic/httpapi"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// siteServer serves {slug}.<domain> as cmd/mosaic does: httpapi's site
// router, which sends a project's requests to its running app
// (Platform.ServeApp), else to its static files (404 when it has none).
func siteServer(t *testing.T, p *mosaic.Platform) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpapi.New(p, httpapi.Options{}).Sites(http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	return srv
}

// site GETs path from slug's site through srv.
func site(t *testing.T, srv *httptest.Server, p *mosaic.Platform, slug, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Host = slug + "." + p.Domain()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", slug, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// push commits files one by one with PushFile; the last with deploy.
func push(t *testing.T, env *mosaictest.Env, slug string, deploy bool, files ...[2]string) (*gitpush.Commit, *mosaic.DeployStarted) {
	t.Helper()
	var (
		c   *gitpush.Commit
		dep *mosaic.DeployStarted
		err error
	)
	for i, f := range files {
		last := i == len(files)-1
		c, dep, err = env.Platform.PushFile(context.Background(), env.Account.ID, slug,
			gitpush.File{Path: f[0], Content: []byte(f[1]), Message: "add " + f[0]}, deploy && last)
		if err != nil {
			t.Fatalf("push %s: %v", f[0], err)
		}
	}
	return c, dep
}

// deployed pushes files (the last with deploy) and waits until the
// deployment they start is running.
func deployed(t *testing.T, env *mosaictest.Env, slug string, files ...[2]string) *mosaic.DeployStatus {
	t.Helper()
	push(t, env, slug, true, files...)
	return env.WaitDeploy(t, slug, deployer.StatusRunning)
}

func goApp(body string) [][2]string {
	return [][2]string{
		{"go.mod", "module example.com/app\n\ngo 1.22\n"},
		{"main.go", `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "` + body + ` host=%s", r.Host)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		panic(err)
	}
}
`},
	}
}

func nodeApp(body string) [][2]string {
	return [][2]string{
		{"package.json", `{"name": "app", "scripts": {"start": "node server.js"}}`},
		{"server.js", `require('http').createServer((req, res) => {
  if (req.url === '/stream') {
    res.writeHead(200, {'Content-Type': 'text/plain'});
    let n = 0;
    const t = setInterval(() => { res.write('tick ' + n + '\n'); if (++n === 3) { clearInterval(t); res.end(); } }, 50);
    return;
  }
  res.end('` + body + ` pid=' + process.pid);
}).listen(process.env.PORT, '127.0.0.1', () => console.log('node app listening on ' + process.env.PORT));
`},
	}
}

// rustApp is a Rust app with no dependencies (crates.io is not reachable
// from every machine): an HTTP/1.1 answer on $PORT from the standard library.
func rustApp(body string) [][2]string {
	return [][2]string{
		{"Cargo.toml", "[package]\nname = \"hello-rs\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"},
		{"src/main.rs", `use std::io::{Read, Write};
use std::net::TcpListener;

fn main() {
    let port = std::env::var("PORT").expect("PORT");
    let listener = TcpListener::bind(format!("127.0.0.1:{}", port)).expect("listen");
    println!("rust app listening on {}", port);
    for stream in listener.incoming() {
        let mut s = match stream {
            Ok(s) => s,
            Err(_) => continue,
        };
        let mut buf = [0u8; 8192];
        let n = s.read(&mut buf).unwrap_or(0);
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        let host = req.lines().find(|l| l.to_ascii_lowercase().starts_with("host:")).map(|l| l[5..].trim().to_string()).unwrap_or_default();
        let body = format!("` + body + ` host={}", host);
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", body.len(), body);
    }
}
`},
	}
}

// pythonApp is a Python app with an empty requirements file: the standard
// library's http.server on $PORT.
func pythonApp(body string) [][2]string {
	return [][2]string{
		{"requirements.txt", "# the standard library is enough\n"},
		{"main.py", `import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        b = ("` + body + ` host=" + self.headers.get("Host", "")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)


print("python app listening on", os.environ["PORT"], flush=True)
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Hello).serve_forever()
`},
	}
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
}

// watchStatuses records the distinct statuses a project goes through until
// it reaches a final one.
func watchStatuses(t *testing.T, env *mosaictest.Env, slug string) []deployer.Status {
	t.Helper()
	var seen []deployer.Status
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		st, err := env.Platform.DeployStatus(context.Background(), env.Account.ID, slug)
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != st.Status {
			seen = append(seen, st.Status)
		}
		if st.Status == deployer.StatusRunning || st.Status == deployer.StatusFailed {
			return seen
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never finished deploying: %v", slug, seen)
	return nil
}

// inOrder reports whether seen is a subsequence-respecting walk of want.
func inOrder(seen, want []deployer.Status) bool {
	i := 0
	for _, s := range seen {
		for i < len(want) && want[i] != s {
			i++
		}
		if i == len(want) {
			return false
		}
	}
	return len(seen) > 0 && seen[len(seen)-1] == want[len(want)-1]
}

// TestDeployStacksEndToEnd: a static site, a Node app and a Go app, pushed
// with file pushes (the last with deploy), go pending → building → running
// and are served through the site proxy with the app's own answer; the
// history row tells what happened.
func TestDeployStacksEndToEnd(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "node", "go")
	env := mosaictest.New(t)
	srv := siteServer(t, env.Platform)
	cases := []struct {
		name  string
		files [][2]string
		stack deployer.Stack
		want  string
	}{
		{"static", [][2]string{{"style.css", "h1{color:red}"}, {"index.html", "<h1>static hello</h1>"}}, deployer.StackStatic, "<h1>static hello</h1>"},
		{"node", nodeApp("node hello"), deployer.StackNode, "node hello pid="},
		{"go", goApp("go hello"), deployer.StackGo, "go hello host="},
		{"rust", rustApp("rust hello"), deployer.StackRust, "rust hello host="},
		{"python", pythonApp("python hello"), deployer.StackPython, "python hello host="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			switch tc.stack {
			case deployer.StackRust:
				needTools(t, "cargo")
			case deployer.StackPython:
				if err := exec.Command("python3", "-c", "import venv, ensurepip").Run(); err != nil {
					t.Skipf("python3 with venv and ensurepip is not installed: %v", err)
				}
			}
			cp := env.Project(t)
			if code, _ := site(t, srv, env.Platform, cp.Slug, "/"); code != http.StatusNotFound {
				t.Fatalf("before the first deployment the site router got %d, want its own 404", code)
			}
			c, dep := push(t, env, cp.Slug, true, tc.files...)
			if dep == nil || dep.Status != deployer.StatusPending || dep.DeploymentID == "" || dep.URL != env.Platform.SiteURL(cp.Slug) {
				t.Fatalf("deploy block %+v", dep)
			}
			seen := watchStatuses(t, env, cp.Slug)
			if !inOrder(seen, []deployer.Status{deployer.StatusPending, deployer.StatusBuilding, deployer.StatusRunning}) {
				logs, _ := env.Platform.DeployLogs(context.Background(), env.Account.ID, cp.Slug)
				t.Fatalf("statuses %v; build log:\n%s", seen, logs.Build)
			}
			code, body := site(t, srv, env.Platform, cp.Slug, "/")
			if code != 200 || !strings.Contains(body, tc.want) {
				t.Fatalf("site: %d %q, want %q", code, body, tc.want)
			}
			if tc.stack != deployer.StackStatic && tc.stack != deployer.StackNode && !strings.Contains(body, "host="+cp.Slug+"."+env.Platform.Domain()) {
				t.Errorf("the app did not see the site's host name: %q", body)
			}
			hist, err := env.Platform.DeployHistory(context.Background(), env.Account.ID, cp.Slug, 10)
			if err != nil || len(hist) != 1 {
				t.Fatalf("history %+v %v", hist, err)
			}
			h := hist[0]
			if h.ID != dep.DeploymentID || h.Trigger != deployer.TriggerFilePush || h.CommitSHA != c.SHA || h.CommitMessage != c.Message ||
				h.Stack != tc.stack || h.Status != deployer.StatusRunning || h.StartedAt == nil || h.FinishedAt == nil || h.DurationMS <= 0 {
				t.Errorf("history row %+v (commit %s %q)", h, c.SHA, c.Message)
			}
			logs, err := env.Platform.DeployLogs(context.Background(), env.Account.ID, cp.Slug)
			if err != nil || !strings.Contains(logs.Build, "detected "+string(tc.stack)) {
				t.Errorf("logs %+v %v", logs, err)
			}
			if tc.stack == deployer.StackNode {
				if !strings.Contains(logs.Runtime, "node app listening on") {
					t.Errorf("runtime log %q", logs.Runtime)
				}
				// A streamed answer passes through the proxy.
				if code, body := site(t, srv, env.Platform, cp.Slug, "/stream"); code != 200 || body != "tick 0\ntick 1\ntick 2\n" {
					t.Errorf("stream: %d %q", code, body)
				}
			}
			t.Logf("%s: push to serving in %d ms (statuses %v)", tc.name, h.DurationMS, seen)
		})
	}
}

// TestDeployFailuresKeepServing: a broken build fails with the compiler's
// error in the build log, and an app that never listens fails its health
// check; both leave the previous version serving.
func TestDeployFailuresKeepServing(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "node", "go")
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) { c.DeployHealthTimeout = 10 * time.Second }))
	srv := siteServer(t, env.Platform)
	ctx := context.Background()
	cp := env.Project(t)
	deployed(t, env, cp.Slug, goApp("version one")...)
	if _, body := site(t, srv, env.Platform, cp.Slug, "/"); !strings.Contains(body, "version one") {
		t.Fatalf("v1: %q", body)
	}

	_, dep := push(t, env, cp.Slug, true, [2]string{"main.go", "package main\n\nfunc main() { notDefinedAnywhere() }\n"})
	env.WaitDeploy(t, cp.Slug, deployer.StatusFailed)
	logs, err := env.Platform.DeployLogs(ctx, env.Account.ID, cp.Slug)
	if err != nil || logs.DeploymentID != dep.DeploymentID || !strings.Contains(logs.Build, "undefined: notDefinedAnywhere") {
		t.Fatalf("build log of the broken build (%v):\n%+v", err, logs)
	}
	if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != 200 || !strings.Contains(body, "version one") {
		t.Errorf("after a broken build: %d %q, want version one still serving", code, body)
	}
	st, _ := env.Platform.DeployStatus(ctx, env.Account.ID, cp.Slug)
	if st.Status != deployer.StatusFailed || st.Live == nil || st.Live.Status != deployer.StatusRunning || !strings.Contains(st.Latest.Error, "build failed") {
		t.Errorf("status after a broken build: %+v", st)
	}

	// An app that never listens (a Node script that idles).
	push(t, env, cp.Slug, false, [2]string{"main.go", "package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Hour) }\n"})
	_, dep = push(t, env, cp.Slug, true, [2]string{"README.md", "idle\n"})
	env.WaitDeploy(t, cp.Slug, deployer.StatusFailed)
	hist, _ := env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 1)
	if len(hist) != 1 || hist[0].ID != dep.DeploymentID || !strings.Contains(hist[0].Error, "did not listen on $PORT") {
		t.Fatalf("never-listening app: %+v", hist)
	}
	if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != 200 || !strings.Contains(body, "version one") {
		t.Errorf("after a never-listening app: %d %q, want version one still serving", code, body)
	}
	// Only the live instance is left in the runtime: the failed ones were removed.
	insts, _ := env.Runtime.List(ctx, map[string]string{deployer.LabelProject: cp.ID.String()})
	if len(insts) != 1 || insts[0].Labels[deployer.LabelDeployment] != st.Live.ID {
		t.Errorf("instances left: %+v", insts)
	}
	// An unknown stack fails with the files it looked for.
	other := env.Project(t)
	push(t, env, other.Slug, true, [2]string{"notes.txt", "nothing to run"})
	env.WaitDeploy(t, other.Slug, deployer.StatusFailed)
	logs, _ = env.Platform.DeployLogs(ctx, env.Account.ID, other.Slug)
	if !strings.Contains(logs.Build, "go.mod, Cargo.toml, requirements.txt, pyproject.toml, package.json, index.html") {
		t.Errorf("unknown stack log:\n%s", logs.Build)
	}
}

// TestDeployLifecycle: stop (503 page), start, restart (a new process) and
// destroy (no process, no build directory, no route left).
func TestDeployLifecycle(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "node")
	env := mosaictest.New(t)
	srv := siteServer(t, env.Platform)
	ctx := context.Background()
	cp := env.Project(t)
	deployed(t, env, cp.Slug, nodeApp("lifecycle")...)
	_, body1 := site(t, srv, env.Platform, cp.Slug, "/")
	if !strings.Contains(body1, "lifecycle pid=") {
		t.Fatalf("%q", body1)
	}

	st, err := env.Platform.StopApp(ctx, env.Account.ID, cp.Slug)
	if err != nil || st.Status != deployer.StatusStopped {
		t.Fatalf("stop: %+v %v", st, err)
	}
	code, body := site(t, srv, env.Platform, cp.Slug, "/")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "This app is stopped") {
		t.Errorf("stopped app: %d %q", code, body)
	}
	if st, err = env.Platform.StartApp(ctx, env.Account.ID, cp.Slug); err != nil || st.Status != deployer.StatusRunning {
		t.Fatalf("start: %+v %v", st, err)
	}
	_, body2 := site(t, srv, env.Platform, cp.Slug, "/")
	if !strings.Contains(body2, "lifecycle pid=") || body2 == body1 {
		t.Errorf("after start: %q (before stop: %q)", body2, body1)
	}
	if st, err = env.Platform.RestartApp(ctx, env.Account.ID, cp.Slug); err != nil || st.Status != deployer.StatusRunning {
		t.Fatalf("restart: %+v %v", st, err)
	}
	_, body3 := site(t, srv, env.Platform, cp.Slug, "/")
	if !strings.Contains(body3, "lifecycle pid=") || body3 == body2 {
		t.Errorf("after restart: %q (before: %q)", body3, body2)
	}
	insts, _ := env.Runtime.List(ctx, map[string]string{deployer.LabelProject: cp.ID.String()})
	if len(insts) != 1 {
		t.Fatalf("instances %+v", insts)
	}
	pid := env.Runtime.PID(insts[0].ID)

	if err := env.Platform.DestroyDeployment(ctx, env.Account.ID, cp.Slug); err != nil {
		t.Fatal(err)
	}
	if code, _ := site(t, srv, env.Platform, cp.Slug, "/"); code != http.StatusNotFound {
		t.Errorf("destroyed app still routed: %d", code)
	}
	if insts, _ := env.Runtime.List(ctx, map[string]string{deployer.LabelProject: cp.ID.String()}); len(insts) != 0 {
		t.Errorf("instances left: %+v", insts)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(b), ") Z") {
			t.Errorf("process %d left running", pid)
		}
	}
	for _, d := range []string{"builds", "instances"} {
		if ents, _ := os.ReadDir(filepath.Join(env.Runtime.Dir(), d)); len(ents) != 0 {
			t.Errorf("%s left: %v", d, ents)
		}
	}
	st, err = env.Platform.DeployStatus(ctx, env.Account.ID, cp.Slug)
	if err != nil || st.Status != deployer.StatusInactive || st.Live != nil {
		t.Errorf("status after destroy: %+v %v", st, err)
	}
	if _, err := env.Platform.StopApp(ctx, env.Account.ID, cp.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("stop after destroy: %v", err)
	}
	if err := env.Platform.DestroyDeployment(ctx, env.Account.ID, cp.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("second destroy: %v", err)
	}
}

// TestDeployConcurrentSerialize: three deploys at once run one at a time:
// the first builds, the second is superseded while it waits, the third runs
// after the first finished.
func TestDeployConcurrentSerialize(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "node")
	env := mosaictest.New(t)
	ctx := context.Background()
	cp := env.Project(t)
	push(t, env, cp.Slug, false, nodeApp("serial")...)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := env.Platform.Deploy(ctx, env.Account.ID, cp.Slug, mosaic.DeployRequest{})
			if err != nil {
				t.Error(err)
				return
			}
			if d.Status != deployer.StatusPending {
				t.Errorf("deploy answered %+v", d)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Wait for every one to finish.
	var hist []deployer.Deployment
	for range 1200 {
		hist, _ = env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 10)
		done := len(hist) == 3
		for _, h := range hist {
			done = done && h.Status.Finished()
		}
		if done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Exactly one was superseded while it waited; of the other two, the one
	// that built first finished before the other started building.
	var ran []deployer.Deployment
	superseded := 0
	for _, h := range hist {
		if h.Status == deployer.StatusSuperseded && h.StartedAt == nil {
			superseded++
		} else {
			ran = append(ran, h)
		}
	}
	if len(hist) != 3 || superseded != 1 || len(ran) != 2 {
		t.Fatalf("history %+v, want one superseded deployment", hist)
	}
	first, last := ran[1], ran[0] // newest first
	if first.StartedAt == nil || last.StartedAt == nil || first.FinishedAt == nil || last.StartedAt.Before(*first.StartedAt) {
		first, last = last, first
	}
	if first.StartedAt == nil || last.StartedAt == nil || first.FinishedAt == nil {
		t.Fatalf("history %+v", hist)
	}
	if last.StartedAt.Before(*first.FinishedAt) {
		t.Errorf("deployments overlapped: first finished %v, last started %v", first.FinishedAt, last.StartedAt)
	}
	if last.Status != deployer.StatusRunning || first.Status != deployer.StatusInactive {
		t.Errorf("first %+v\nlast %+v\nwant inactive and running", first, last)
	}
	st, _ := env.Platform.DeployStatus(ctx, env.Account.ID, cp.Slug)
	if st.Live == nil || st.Live.ID != last.ID {
		t.Errorf("live %+v, want %s", st.Live, last.ID)
	}
}

// TestDeployGitPushAutoDeploy: after the first deployment (which turns
// auto-deploy on), a real git push deploys the new commit; with auto-deploy
// off a push is not deployed.
func TestDeployGitPushAutoDeploy(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "node")
	env := mosaictest.New(t)
	srv := siteServer(t, env.Platform)
	ctx := context.Background()
	cp := env.Project(t)
	deployed(t, env, cp.Slug, nodeApp("from the api")...)
	s, err := env.Platform.ProjectSettings(ctx, env.Account.ID, cp.Slug)
	if err != nil || !s.AutoDeploy || s.WebhookID == nil {
		t.Fatalf("settings after the first deployment: %+v %v", s, err)
	}

	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	repo := strings.Replace(env.Platform.GitRepoURL(cp.Slug), "://", "://x:"+env.APIKey+"@", 1)
	git("clone", "-q", repo, ".")
	commit := func(body, msg string) string {
		t.Helper()
		os.WriteFile(filepath.Join(dir, "server.js"), []byte(nodeApp(body)[1][1]), 0o644)
		git("commit", "-qam", msg)
		git("push", "-q", "origin", "main")
		return git("rev-parse", "HEAD")
	}
	waitBody := func(want string) {
		t.Helper()
		for range 1200 {
			if _, body := site(t, srv, env.Platform, cp.Slug, "/"); strings.Contains(body, want) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		hist, _ := env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 5)
		t.Fatalf("%q never served; history %+v", want, hist)
	}
	v2 := commit("pushed with git", "second version")
	waitBody("pushed with git")
	hist, _ := env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 1)
	if hist[0].Trigger != deployer.TriggerGitPush || hist[0].CommitSHA != v2 || hist[0].CommitMessage != "second version" {
		t.Errorf("git push deployment %+v, want commit %s", hist[0], v2)
	}

	if _, err := env.Platform.UpdateSettings(ctx, env.Account.ID, cp.Slug, ptr(false)); err != nil {
		t.Fatal(err)
	}
	// Auto-deploy off: two pushes are not deployed. Push events are handled
	// asynchronously, and settings are read when an event is handled, so the
	// setting stays off until a manual deployment (seconds of work after
	// both pushes) has gone live.
	v3 := commit("not deployed", "third version")
	v4 := commit("deployed by hand", "fourth version")
	d, err := env.Platform.Deploy(ctx, env.Account.ID, cp.Slug, mosaic.DeployRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitBody("deployed by hand")
	noAuto := func() {
		t.Helper()
		hist, _ := env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 10)
		for _, h := range hist {
			if h.Trigger == deployer.TriggerGitPush && (h.CommitSHA == v3 || h.CommitSHA == v4) {
				t.Errorf("a push with auto-deploy off was deployed: %+v", h)
			}
		}
	}
	noAuto()
	hist, _ = env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 1)
	if hist[0].ID != d.DeploymentID || hist[0].Trigger != deployer.TriggerManual || hist[0].CommitSHA != v4 {
		t.Errorf("manual deployment %+v", hist[0])
	}
	// On again: the next push deploys.
	if _, err := env.Platform.UpdateSettings(ctx, env.Account.ID, cp.Slug, ptr(true)); err != nil {
		t.Fatal(err)
	}
	v5 := commit("fifth", "fifth version")
	waitBody("fifth")
	noAuto()
	hist, _ = env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 10)
	if len(hist) != 4 || hist[0].CommitSHA != v5 || hist[0].Trigger != deployer.TriggerGitPush {
		t.Errorf("history %+v", hist)
	}
}

func ptr[T any](v T) *T { return &v }

// TestDeployIsolation: another account can neither see, deploy, stop,
// start, restart, read the logs of nor destroy a project's app, and a
// deploy of another project's repository URL is refused.
func TestDeployIsolation(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "node")
	env := mosaictest.New(t)
	srv := siteServer(t, env.Platform)
	ctx := context.Background()
	a := env.Project(t)
	deployed(t, env, a.Slug, nodeApp("project a")...)

	other, _, _ := env.NewAccount(t)
	b := func() string {
		cp, err := env.Platform.CreateProject(ctx, other.ID, mosaic.NewProject{Name: "b"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { env.Platform.DeleteProject(context.Background(), other.ID, cp.Slug) })
		return cp.Slug
	}()
	calls := map[string]func() error{
		"deploy":  func() error { _, err := env.Platform.Deploy(ctx, other.ID, a.Slug, mosaic.DeployRequest{}); return err },
		"status":  func() error { _, err := env.Platform.DeployStatus(ctx, other.ID, a.Slug); return err },
		"history": func() error { _, err := env.Platform.DeployHistory(ctx, other.ID, a.Slug, 5); return err },
		"logs":    func() error { _, err := env.Platform.DeployLogs(ctx, other.ID, a.Slug); return err },
		"follow":  func() error { return env.Platform.FollowDeployLogs(ctx, other.ID, a.Slug, io.Discard) },
		"stop":    func() error { _, err := env.Platform.StopApp(ctx, other.ID, a.Slug); return err },
		"start":   func() error { _, err := env.Platform.StartApp(ctx, other.ID, a.Slug); return err },
		"restart": func() error { _, err := env.Platform.RestartApp(ctx, other.ID, a.Slug); return err },
		"destroy": func() error { return env.Platform.DestroyDeployment(ctx, other.ID, a.Slug) },
		"push": func() error {
			_, _, err := env.Platform.PushFile(ctx, other.ID, a.Slug, gitpush.File{Path: "x", Content: []byte("x")}, true)
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, mosaic.ErrNotFound) {
			t.Errorf("another account's %s: %v, want not found", name, err)
		}
	}
	// B deploying A's repository through its own project: refused.
	_, err := env.Platform.Deploy(ctx, other.ID, b, mosaic.DeployRequest{RepoURL: env.Platform.GitRepoURL(a.Slug)})
	if !errors.Is(err, mosaic.ErrInvalid) {
		t.Errorf("deploy of another project's repo: %v", err)
	}
	for _, u := range []string{"https://github.com/x/y.git", "file:///etc", env.Platform.GitRepoURL(a.Slug) + "/../" + b} {
		if _, err := env.Platform.Deploy(ctx, env.Account.ID, a.Slug, mosaic.DeployRequest{RepoURL: u}); !errors.Is(err, mosaic.ErrInvalid) {
			t.Errorf("repo_url %q: %v, want invalid", u, err)
		}
	}
	if code, body := site(t, srv, env.Platform, a.Slug, "/"); code != 200 || !strings.Contains(body, "project a") {
		t.Errorf("A's app after B's attempts: %d %q", code, body)
	}
	if code, _ := site(t, srv, env.Platform, b, "/"); code != http.StatusNotFound {
		t.Errorf("B's site is routed to something: %d", code)
	}
}

// TestDeployRehydrate: a new platform on the same control database and
// runtime directory adopts the running app from its labels and serves it.
func TestDeployRehydrate(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "node")
	var cfg mosaic.Config
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) { cfg = *c }))
	ctx := context.Background()
	cp := env.Project(t)
	live := deployed(t, env, cp.Slug, nodeApp("survives restarts")...)

	rt2, err := process.New(process.Config{Dir: env.Runtime.Dir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Runtime = rt2
	p2, err := mosaic.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	srv2 := siteServer(t, p2)
	if code, body := site(t, srv2, p2, cp.Slug, "/"); code != 200 || !strings.Contains(body, "survives restarts") {
		t.Errorf("after restart: %d %q", code, body)
	}
	st, err := p2.DeployStatus(ctx, env.Account.ID, cp.Slug)
	if err != nil || st.Status != deployer.StatusRunning || st.Live == nil || st.Live.ID != live.Live.ID {
		t.Errorf("status after restart: %+v %v", st, err)
	}
}

// TestDeployNotConfigured: without a runtime, deploy routes are 503 and a
// file push with deploy commits nothing.
func TestDeployNotConfigured(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) { c.Runtime = nil }))
	ctx := context.Background()
	cp := env.Project(t)
	_, _, err := env.Platform.PushFile(ctx, env.Account.ID, cp.Slug, gitpush.File{Path: "index.html", Content: []byte("x")}, true)
	if !errors.Is(err, mosaic.ErrUnavailable) {
		t.Fatalf("push with deploy: %v", err)
	}
	if _, err := env.Platform.DeployStatus(ctx, env.Account.ID, cp.Slug); !errors.Is(err, mosaic.ErrUnavailable) {
		t.Errorf("status: %v", err)
	}
	c, _, err := env.Platform.PushFile(ctx, env.Account.ID, cp.Slug, gitpush.File{Path: "index.html", Content: []byte("x")}, false)
	if err != nil || c.Parent != "" {
		t.Errorf("the refused push committed something: %+v %v", c, err)
	}
	if env.Platform.ServeApp(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), cp.Slug) {
		t.Error("ServeApp handled a request without a runtime")
	}
}

// slowApp is nodeApp with /slow, which answers after 3 s.
func slowApp(body string) [][2]string {
	return [][2]string{
		{"package.json", `{"name": "app", "scripts": {"start": "node server.js"}}`},
		{"server.js", `require('http').createServer((req, res) => {
  if (req.url === '/slow') {
    setTimeout(() => res.end('slow ` + body + `'), 3000);
    return;
  }
  res.end('` + body + `');
}).listen(process.env.PORT, '127.0.0.1');
`},
	}
}

// TestDeploySwapDrains: a request that the old version is serving when a
// new version goes live finishes with the old version's answer (zero
// downtime), and the old version is removed once it has.
func TestDeploySwapDrains(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "node")
	env := mosaictest.New(t)
	srv := siteServer(t, env.Platform)
	ctx := context.Background()
	cp := env.Project(t)
	deployed(t, env, cp.Slug, slowApp("one")...)

	type answer struct {
		code int
		body string
	}
	slow := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/slow", nil)
		req.Host = cp.Slug + "." + env.Platform.Domain()
		resp, err := srv.Client().Do(req)
		if err != nil {
			slow <- answer{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			slow <- answer{resp.StatusCode, "reading the body: " + err.Error()}
			return
		}
		slow <- answer{resp.StatusCode, string(b)}
	}()
	time.Sleep(300 * time.Millisecond) // the request is at the old version

	deployed(t, env, cp.Slug, slowApp("two")...)
	if _, body := site(t, srv, env.Platform, cp.Slug, "/"); body != "two" {
		t.Fatalf("after the swap: %q", body)
	}
	select {
	case a := <-slow:
		if a.code != 200 || a.body != "slow one" {
			t.Fatalf("the request in flight during the swap: %d %q, want 200 \"slow one\"", a.code, a.body)
		}
	case <-time.After(time.Minute):
		t.Fatal("the request in flight never ended")
	}
	// Drained, the old version goes.
	deadline := time.Now().Add(time.Minute)
	for {
		insts, err := env.Runtime.List(ctx, map[string]string{deployer.LabelProject: cp.ID.String()})
		if err == nil && len(insts) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances after the drain: %+v %v", insts, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
