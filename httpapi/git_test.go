package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func gitCmd(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cloneURL puts an API key into the project's git_repo_url as basic auth.
func cloneURL(t *testing.T, repoURL, key string) string {
	u, err := url.Parse(repoURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("x", key)
	return u.String()
}

// TestGitFilesThenClone: a file pushed with POST /{slug}/git/files is in a
// real git clone of the project's git_repo_url, authenticated with the
// account's API key; another account's key cannot clone or push.
func TestGitFilesThenClone(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	env := mosaictest.New(t)
	ctx := context.Background()
	created, err := env.Client.CreateProject(ctx, client.CreateProjectRequest{Name: "git app"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Client.DeleteProject(context.Background(), created.Slug) })
	if created.GitRepoURL != env.GitURL+"/"+created.Slug+".git" {
		t.Fatalf("git_repo_url %q, want it under %s", created.GitRepoURL, env.GitURL)
	}

	// An empty repository clones.
	dir := t.TempDir()
	if out, err := gitCmd(t, dir, "clone", cloneURL(t, created.GitRepoURL, env.APIKey), "empty"); err != nil {
		t.Fatalf("clone of the empty repo: %v\n%s", err, out)
	}

	big := make([]byte, 2<<20)
	rand.Read(big)
	c1, err := env.Client.PutFile(ctx, created.Slug, client.PutFileRequest{Path: "index.js", Content: []byte("console.log('hi')\n"), Message: "Add index.js"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := env.Client.PutFile(ctx, created.Slug, client.PutFileRequest{Path: "assets/blob.bin", Content: big, Message: "Add a blob"})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Parent != c1.SHA || c1.Branch != "main" || len(c1.SHA) != 40 {
		t.Errorf("commits %+v %+v", c1, c2)
	}
	if out, err := gitCmd(t, dir, "clone", cloneURL(t, created.GitRepoURL, env.APIKey), "work"); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "work", "assets", "blob.bin"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the pushed blob does not round-trip (err %v)", err)
	}
	if out, _ := gitCmd(t, filepath.Join(dir, "work"), "log", "--format=%s"); !strings.Contains(out, "Add index.js") {
		t.Errorf("git log: %q", out)
	}

	// A client push lands too.
	work := filepath.Join(dir, "work")
	os.WriteFile(filepath.Join(work, "README.md"), []byte("# hi\n"), 0o644)
	gitCmd(t, work, "add", "README.md")
	gitCmd(t, work, "commit", "-m", "readme")
	if out, err := gitCmd(t, work, "push", "origin", "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}

	// Another account's key: no clone, no push, no file API.
	_, otherKey, other := env.NewAccount(t)
	if out, err := gitCmd(t, dir, "clone", cloneURL(t, created.GitRepoURL, otherKey), "stolen"); err == nil {
		t.Errorf("another account cloned the repo:\n%s", out)
	}
	gitCmd(t, work, "commit", "--allow-empty", "-m", "intruder")
	if out, err := gitCmd(t, work, "push", cloneURL(t, created.GitRepoURL, otherKey), "main"); err == nil {
		t.Errorf("another account pushed:\n%s", out)
	}
	if out, err := gitCmd(t, work, "push", cloneURL(t, created.GitRepoURL, "mk_wrongwrongwrongwrongwrongwrongwrong"), "main"); err == nil {
		t.Errorf("a wrong key pushed:\n%s", out)
	}
	if _, err := other.PutFile(ctx, created.Slug, client.PutFileRequest{Path: "x", Content: []byte("x")}); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account's PutFile: %v, want not found", err)
	}

	// Deleting the project deletes the repository.
	if err := env.Client.DeleteProject(ctx, created.Slug); err != nil {
		t.Fatal(err)
	}
	if out, err := gitCmd(t, dir, "clone", cloneURL(t, created.GitRepoURL, env.APIKey), "gone"); err == nil {
		t.Errorf("the repository survived its project:\n%s", out)
	}
}

func TestGitFilesBadInput(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	cp := env.Project(t)
	path := "/" + cp.Slug + "/git/files"
	b64 := base64.StdEncoding.EncodeToString([]byte("x"))
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"deploy with bad content", `{"path":"a.txt","content":"%%%","deploy":true}`, 400, "invalid_content"},
		{"absolute path", `{"path":"/etc/passwd","content":"` + b64 + `"}`, 400, ""},
		{"dot-dot", `{"path":"a/../../b","content":"` + b64 + `"}`, 400, ""},
		{"under .git", `{"path":".git/config","content":"` + b64 + `"}`, 400, ""},
		{"NUL", `{"path":"a\u0000b","content":"` + b64 + `"}`, 400, ""},
		{"too long", `{"path":"` + strings.Repeat("a", 4097) + `","content":"` + b64 + `"}`, 400, ""},
		{"bad base64", `{"path":"a.txt","content":"%%%"}`, 400, "invalid_content"},
		{"no content", `{"path":"a.txt"}`, 400, "invalid_content"},
		{"content wrong type", `{"path":"a.txt","content":5}`, 400, "invalid_type"},
		{"too large", `{"path":"a.txt","content":"` + base64.StdEncoding.EncodeToString(make([]byte, 10<<20+1)) + `"}`, 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, env, call{method: "POST", path: path, body: tc.body})
			if a.status != tc.status || (tc.code != "" && a.json["error"] != tc.code) || a.json["detail"] == nil {
				t.Errorf("%d %s, want %d %s", a.status, a.body, tc.status, tc.code)
			}
		})
	}
	// Nothing was committed by any of them, the deploy one included: the first real file has no parent.
	c, err := env.Client.PutFile(context.Background(), cp.Slug, client.PutFileRequest{Path: "ok.txt", Content: []byte("ok")})
	if err != nil || c.Parent != "" {
		t.Errorf("first commit %+v (err %v), want no parent", c, err)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	ctx := context.Background()
	cp := env.Project(t)
	s, err := env.Client.Settings(ctx, cp.Slug)
	if err != nil || s.AutoDeploy || s.WebhookID != nil {
		t.Fatalf("default settings %+v %v", s, err)
	}
	if s, err = env.Client.SetAutoDeploy(ctx, cp.Slug, true); err != nil || !s.AutoDeploy {
		t.Fatalf("enable: %+v %v", s, err)
	}
	if s, err = env.Client.Settings(ctx, cp.Slug); err != nil || !s.AutoDeploy {
		t.Fatalf("after enable: %+v %v", s, err)
	}
	a := do(t, env, call{method: "PATCH", path: "/" + cp.Slug + "/settings", body: `{"auto_deploy":"yes"}`})
	if a.status != 400 {
		t.Errorf("auto_deploy as a string: %d", a.status)
	}
	_, _, other := env.NewAccount(t)
	if _, err := other.SetAutoDeploy(ctx, cp.Slug, false); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account changes the settings: %v", err)
	}
}
