package gitpush_test

import (
	"context"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
)

const (
	testUser = "x-token"
	testPass = "s3cret-key"
)

// request is what the recording middleware saw of one request.
type request struct {
	Method, Path, Query string
	TransferEncoding    []string
	ContentEncoding     string
	Status              int
}

// testEnv is a Local served by a real HTTP server, and a git client set up
// in a temporary HOME.
type testEnv struct {
	t      testing.TB
	l      *gitpush.Local
	srv    *httptest.Server
	home   string
	repos  string
	events chan gitpush.PushEvent

	mu   sync.Mutex
	reqs []request
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	root := t.TempDir()
	l, err := gitpush.New(gitpush.Config{
		Dir: filepath.Join(root, "repos"),
		Authorize: func(ctx context.Context, project, user, pass string) error {
			if user != testUser || pass != testPass {
				return errs.New(errs.Unauthorized, "bad_credentials", "wrong API key")
			}
			if strings.HasPrefix(project, "hidden") {
				return errs.New(errs.NotFound, "project_not_found", "no such project")
			}
			if strings.HasPrefix(project, "busy") {
				return errs.New(errs.Conflict, "project_not_ready", "the project is still being created")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, l: l, home: filepath.Join(root, "home"), repos: filepath.Join(root, "repos"), events: make(chan gitpush.PushEvent, 1000)}
	l.OnPush(func(ctx context.Context, ev gitpush.PushEvent) { e.events <- ev })
	mux := http.NewServeMux()
	mux.Handle("/git/", http.StripPrefix("/git", l))
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		e.mu.Lock()
		e.reqs = append(e.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, r.TransferEncoding, r.Header.Get("Content-Encoding"), rec.status})
		e.mu.Unlock()
	}))
	e.srv.Config.ErrorLog = log.New(serverLog{t}, "", 0)
	e.srv.Start()
	t.Cleanup(func() {
		e.srv.Close()
		if err := l.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if err := os.MkdirAll(e.home, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// serverLog fails the test on anything the HTTP server logs (panics in
// handlers, broken connections).
type serverLog struct{ t testing.TB }

func (l serverLog) Write(p []byte) (int, error) {
	l.t.Errorf("http server: %s", p)
	return len(p), nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (e *testEnv) requests() []request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]request(nil), e.reqs...)
}

// url is the clone URL of project with credentials.
func (e *testEnv) url(project, user, pass string) string {
	u, err := url.Parse(e.l.CloneURL(e.srv.URL+"/git", project))
	if err != nil {
		e.t.Fatal(err)
	}
	if user != "" {
		u.User = url.UserPassword(user, pass)
	}
	return u.String()
}

func (e *testEnv) create(project string) {
	e.t.Helper()
	if err := e.l.Create(context.Background(), project); err != nil {
		e.t.Fatal(err)
	}
}

// gitCmd runs the git client in dir (or HOME) and returns its combined output.
func (e *testEnv) gitCmd(dir string, args ...string) (string, error) {
	if dir == "" {
		dir = e.home
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.home,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_AUTHOR_NAME=Test Client", "GIT_AUTHOR_EMAIL=client@example.com",
		"GIT_COMMITTER_NAME=Test Client", "GIT_COMMITTER_EMAIL=client@example.com",
		"LC_ALL=C",
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *testEnv) git(dir string, args ...string) string {
	e.t.Helper()
	out, err := e.gitCmd(dir, args...)
	if err != nil {
		e.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// serverGit runs git directly on a project's repository on disk.
func (e *testEnv) serverGit(project string, args ...string) string {
	e.t.Helper()
	return e.git("", append([]string{"--git-dir=" + e.repoDir(project)}, args...)...)
}

func (e *testEnv) repoDir(project string) string {
	return filepath.Join(e.repos, project+".git")
}

// head is the commit refs/heads/<branch> points to on the server, or "".
func (e *testEnv) head(project, branch string) string {
	e.t.Helper()
	out, err := e.gitCmd("", "--git-dir="+e.repoDir(project), "rev-parse", "--verify", "-q", "refs/heads/"+branch)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// clone clones project into a new directory with credentials and sets the
// clone's identity.
func (e *testEnv) clone(project string, extra ...string) string {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), "clone")
	e.git("", append(append([]string{"clone", "--quiet"}, extra...), e.url(project, testUser, testPass), dir)...)
	e.git(dir, "config", "user.name", "Test Client")
	e.git(dir, "config", "user.email", "client@example.com")
	return dir
}

func (e *testEnv) nextEvent() gitpush.PushEvent {
	return <-e.events
}

func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
