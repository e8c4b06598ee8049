package gitpush_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
)

func TestPutFileThenClone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("put-test")
	c, err := e.l.PutFile(t.Context(), "put-test", gitpush.File{
		Path: "web/index.html", Content: []byte("<h1>hi</h1>\n"), Message: "Add index page",
		AuthorName: "Ada", AuthorEmail: "ada@example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Parent != "" || c.Branch != "main" || c.Message != "Add index page" || len(c.SHA) != 40 {
		t.Fatalf("commit = %+v", c)
	}
	dir := e.clone("put-test")
	got, err := os.ReadFile(filepath.Join(dir, "web", "index.html"))
	if err != nil || string(got) != "<h1>hi</h1>\n" {
		t.Fatalf("file = %q, %v", got, err)
	}
	if log := e.git(dir, "log", "-1", "--format=%H|%s|%an <%ae>|%cn"); log != c.SHA+"|Add index page|Ada <ada@example.com>|"+gitpush.CommitterName {
		t.Fatalf("log = %q", log)
	}
	ev := e.nextEvent()
	if !eventEqual(ev, gitpush.PushEvent{Project: "put-test", Source: gitpush.SourceAPI,
		Updates: []gitpush.RefUpdate{{Ref: "refs/heads/main", Old: gitpush.ZeroID, New: c.SHA}}}) {
		t.Fatalf("event = %+v", ev)
	}

	// A second file on top, on main and on a new branch.
	c2, err := e.l.PutFile(t.Context(), "put-test", gitpush.File{Path: "README.md", Content: []byte("# x\n")})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Parent != c.SHA || c2.Message != "Update README.md" {
		t.Fatalf("second commit = %+v", c2)
	}
	c3, err := e.l.PutFile(t.Context(), "put-test", gitpush.File{Path: "x", Content: []byte("x"), Branch: "feature/x"})
	if err != nil {
		t.Fatal(err)
	}
	if c3.Parent != "" || e.head("put-test", "feature/x") != c3.SHA {
		t.Fatalf("branch commit = %+v", c3)
	}
	// ExpectedHead is a compare-and-swap for the caller.
	_, err = e.l.PutFile(t.Context(), "put-test", gitpush.File{Path: "y", Content: []byte("y"), ExpectedHead: c.SHA})
	if !errors.Is(err, errs.ErrConflict) {
		t.Fatalf("stale ExpectedHead: %v", err)
	}
	if _, err = e.l.PutFile(t.Context(), "put-test", gitpush.File{Path: "y", Content: []byte("y"), ExpectedHead: c2.SHA}); err != nil {
		t.Fatal(err)
	}
	// A file where a directory is, and a directory where a file is.
	for _, p := range []string{"web", "README.md/sub"} {
		_, err = e.l.PutFile(t.Context(), "put-test", gitpush.File{Path: p, Content: []byte("z")})
		if !errors.Is(err, errs.ErrConflict) {
			t.Errorf("PutFile %q over the other kind: %v", p, err)
		}
	}
}

func TestPutFileConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("many-test")
	const n = 40
	var wg sync.WaitGroup
	shas := make([]string, n)
	for i := range n {
		wg.Go(func() {
			c, err := e.l.PutFile(t.Context(), "many-test", gitpush.File{
				Path: fmt.Sprintf("dir%d/file%02d.txt", i%3, i), Content: []byte(fmt.Sprintf("content %d\n", i)),
				Message: fmt.Sprintf("file %d", i)})
			if err != nil {
				t.Error(err)
				return
			}
			shas[i] = c.SHA
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if got := e.serverGit("many-test", "rev-list", "--count", "main"); got != fmt.Sprint(n) {
		t.Fatalf("%s commits on main, want %d", got, n)
	}
	files := strings.Split(e.serverGit("many-test", "ls-tree", "-r", "--name-only", "main"), "\n")
	for i := range n {
		if p := fmt.Sprintf("dir%d/file%02d.txt", i%3, i); !slices.Contains(files, p) {
			t.Errorf("%s missing", p)
		}
		e.serverGit("many-test", "merge-base", "--is-ancestor", shas[i], "main")
	}
	e.serverGit("many-test", "fsck", "--strict", "--no-dangling")
	// One event per commit, and they chain: each old is some event's new.
	news := map[string]bool{gitpush.ZeroID: true}
	var evs []gitpush.PushEvent
	for range n {
		ev := e.nextEvent()
		evs = append(evs, ev)
		news[ev.Updates[0].New] = true
	}
	for _, ev := range evs {
		if len(ev.Updates) != 1 || !news[ev.Updates[0].Old] {
			t.Errorf("event %+v does not chain", ev)
		}
	}
}

// PutFile racing git pushes loses nothing: every PutFile that returned is on
// main, and every push either landed or was refused, and landed on retry.
func TestPutFileRacesPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("race-test")
	if _, err := e.l.PutFile(t.Context(), "race-test", gitpush.File{Path: "start", Content: []byte("0")}); err != nil {
		t.Fatal(err)
	}
	dir := e.clone("race-test")
	const rounds = 8
	var apiSHAs, clientSHAs []string
	rejected := 0
	for i := range rounds {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("client%d", i)), []byte("c"))
		e.git(dir, "add", ".")
		e.git(dir, "commit", "--quiet", "-m", fmt.Sprint("client ", i))
		clientSHAs = append(clientSHAs, e.git(dir, "rev-parse", "HEAD"))

		var wg sync.WaitGroup
		var pushOut string
		var pushErr error
		wg.Go(func() { pushOut, pushErr = e.gitCmd(dir, "push", "origin", "main") })
		wg.Go(func() {
			c, err := e.l.PutFile(t.Context(), "race-test", gitpush.File{Path: fmt.Sprintf("api%d", i), Content: []byte("a")})
			if err != nil {
				t.Error(err)
				return
			}
			apiSHAs = append(apiSHAs, c.SHA)
		})
		wg.Wait()
		for pushErr != nil {
			if !strings.Contains(pushOut, "rejected") {
				t.Fatalf("push failed for another reason: %v\n%s", pushErr, pushOut)
			}
			rejected++
			e.git(dir, "pull", "--quiet", "--rebase", "origin", "main")
			clientSHAs[len(clientSHAs)-1] = e.git(dir, "rev-parse", "HEAD")
			pushOut, pushErr = e.gitCmd(dir, "push", "origin", "main")
		}
	}
	for _, sha := range append(apiSHAs, clientSHAs...) {
		if _, err := e.gitCmd("", "--git-dir="+e.repoDir("race-test"), "merge-base", "--is-ancestor", sha, "main"); err != nil {
			t.Errorf("commit %s is not on main", sha)
		}
	}
	files := e.serverGit("race-test", "ls-tree", "--name-only", "main")
	for i := range rounds {
		for _, p := range []string{fmt.Sprintf("api%d", i), fmt.Sprintf("client%d", i)} {
			if !slices.Contains(strings.Split(files, "\n"), p) {
				t.Errorf("%s missing from main", p)
			}
		}
	}
	e.serverGit("race-test", "fsck", "--strict", "--no-dangling")
	t.Logf("%d of %d pushes were refused as non-fast-forward and retried", rejected, rounds)
}

// Exactly one event per push, with every ref it changed, including deletions;
// a push that changes nothing gives no event.
func TestOneEventPerPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("event-test")
	dir := e.clone("event-test")
	writeFile(t, filepath.Join(dir, "a"), []byte("a"))
	e.git(dir, "add", ".")
	e.git(dir, "commit", "--quiet", "-m", "a")
	a := e.git(dir, "rev-parse", "HEAD")
	e.git(dir, "branch", "feature")
	e.git(dir, "tag", "v1")
	e.git(dir, "push", "--quiet", "origin", "main", "feature", "v1")
	ev := e.nextEvent()
	slices.SortFunc(ev.Updates, func(x, y gitpush.RefUpdate) int { return strings.Compare(x.Ref, y.Ref) })
	want := []gitpush.RefUpdate{
		{Ref: "refs/heads/feature", Old: gitpush.ZeroID, New: a},
		{Ref: "refs/heads/main", Old: gitpush.ZeroID, New: a},
		{Ref: "refs/tags/v1", Old: gitpush.ZeroID, New: a},
	}
	if ev.Source != gitpush.SourceHTTP || !slices.Equal(ev.Updates, want) {
		t.Fatalf("event = %+v", ev)
	}

	writeFile(t, filepath.Join(dir, "b"), []byte("b"))
	e.git(dir, "add", ".")
	e.git(dir, "commit", "--quiet", "-m", "b")
	b := e.git(dir, "rev-parse", "HEAD")
	e.git(dir, "push", "--quiet", "origin", "main", ":feature")
	ev = e.nextEvent()
	slices.SortFunc(ev.Updates, func(x, y gitpush.RefUpdate) int { return strings.Compare(x.Ref, y.Ref) })
	want = []gitpush.RefUpdate{
		{Ref: "refs/heads/feature", Old: a, New: gitpush.ZeroID},
		{Ref: "refs/heads/main", Old: a, New: b},
	}
	if !slices.Equal(ev.Updates, want) {
		t.Fatalf("event = %+v", ev)
	}

	e.git(dir, "push", "--quiet", "origin", "main") // up to date: no event
	c, err := e.l.PutFile(t.Context(), "event-test", gitpush.File{Path: "c", Content: []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	if ev := e.nextEvent(); ev.Source != gitpush.SourceAPI || ev.Updates[0] != (gitpush.RefUpdate{Ref: "refs/heads/main", Old: b, New: c.SHA}) {
		t.Fatalf("the event after a no-op push is %+v", ev)
	}
}

// A panicking subscriber does not stop the push or other subscribers.
func TestSubscriberPanic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.l.OnPush(func(ctx context.Context, ev gitpush.PushEvent) { panic("boom") })
	got := make(chan gitpush.PushEvent, 10)
	e.l.OnPush(func(ctx context.Context, ev gitpush.PushEvent) { got <- ev })
	e.create("panic-test")
	for i := range 2 {
		if _, err := e.l.PutFile(t.Context(), "panic-test", gitpush.File{Path: fmt.Sprint(i), Content: nil}); err != nil {
			t.Fatal(err)
		}
	}
	<-got
	<-got
}

func TestPutFileInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("bad-paths")
	for _, p := range []string{
		"", "/etc/passwd", "../x", "a/../../x", "a/..", "./a", "a/./b", "a//b", "a/", "a\\b", "a\\..\\x",
		".git", ".git/config", ".GIT/config", "x/.Git/hooks/post-receive", ".git./config", ".git /x", "git~1/config", "GIT~1",
		".g\u200cit/config", "a\x00b", "a\nb", "a\tb", "a\x7fb", "\xff\xfe", strings.Repeat("a/", 2048) + "b",
		strings.Repeat("x", 256),
	} {
		_, err := e.l.PutFile(t.Context(), "bad-paths", gitpush.File{Path: p, Content: []byte("x")})
		if !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("path %q: %v, want invalid", p, err)
		}
	}
	for _, p := range []string{"a", ".gitignore", ".github/workflows/x.yml", "a b/c.d", "日本/語.txt", "...", "a..b", strings.Repeat("x", 255)} {
		if _, err := e.l.PutFile(t.Context(), "bad-paths", gitpush.File{Path: p, Content: []byte("x")}); err != nil {
			t.Errorf("path %q: %v", p, err)
		}
	}
	for _, b := range []string{"-x", "HEAD", "a..b", "a//b", "/a", "a/", "a.", ".a", "a/.b", "x.lock", "a@{1}", "a b", "a~1", "a^", "a:b", "refs/heads/x", strings.Repeat("b", 201)} {
		_, err := e.l.PutFile(t.Context(), "bad-paths", gitpush.File{Path: "f", Content: []byte("x"), Branch: b})
		if !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("branch %q: %v, want invalid", b, err)
		}
	}
	for _, f := range []gitpush.File{
		{Path: "f", AuthorName: "A <evil>"},
		{Path: "f", AuthorEmail: "a\n@b"},
		{Path: "f", Message: "a\x00b"},
		{Path: "f", ExpectedHead: "abc"},
	} {
		if _, err := e.l.PutFile(t.Context(), "bad-paths", f); !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("%+v: %v, want invalid", f, err)
		}
	}
	_, err := e.l.PutFile(t.Context(), "bad-paths", gitpush.File{Path: "big", Content: make([]byte, gitpush.DefaultMaxFileBytes+1)})
	if !errors.Is(err, errs.ErrTooLarge) {
		t.Errorf("big file: %v", err)
	}
	for _, p := range []string{"Bad", "a", "-ab", "ab-", "a--b", "../x", "a.git", strings.Repeat("a", 33)} {
		if _, err := e.l.PutFile(t.Context(), p, gitpush.File{Path: "f"}); !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("project %q: %v, want invalid", p, err)
		}
	}
	if _, err := e.l.PutFile(t.Context(), "no-such-repo", gitpush.File{Path: "f"}); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("missing repository: %v", err)
	}
	// Nothing invalid reached the repository.
	files := strings.Split(e.serverGit("bad-paths", "ls-tree", "-r", "--name-only", "main"), "\n")
	if len(files) != 8 {
		t.Errorf("tree has %d files: %q", len(files), files)
	}
}

// git itself accepts every branch name CheckBranch accepts.
func TestCheckBranchAgreesWithGit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, b := range []string{"main", "feature/x", "v1.2.3", "a-b_c", "A/B/C", "x..y", "a.lock/b", "a/.b", "-a", "a.", "@", "a@{b", "HEAD", "foo.lock"} {
		ours := gitpush.CheckBranch(b) == nil
		_, err := e.gitCmd("", "check-ref-format", "--branch", b)
		if ours && err != nil {
			t.Errorf("CheckBranch accepts %q, git does not", b)
		}
	}
}

func TestArchive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("archive-test")
	var buf bytes.Buffer
	if err := e.l.Archive(t.Context(), "archive-test", "", &buf); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("archive of an empty repository: %v", err)
	}
	files := map[string]string{"package.json": "{}\n", "src/index.js": "console.log(1)\n", "src/lib/a.js": "x\n"}
	var first gitpush.Commit
	for _, p := range []string{"package.json", "src/index.js", "src/lib/a.js"} {
		c, err := e.l.PutFile(t.Context(), "archive-test", gitpush.File{Path: p, Content: []byte(files[p])})
		if err != nil {
			t.Fatal(err)
		}
		if first.SHA == "" {
			first = c
		}
	}
	for _, ref := range []string{"", "main", "refs/heads/main"} {
		buf.Reset()
		if err := e.l.Archive(t.Context(), "archive-test", ref, &buf); err != nil {
			t.Fatalf("ref %q: %v", ref, err)
		}
		if got := untar(t, &buf); !mapsEqual(got, files) {
			t.Fatalf("ref %q: archive = %v", ref, got)
		}
	}
	buf.Reset()
	if err := e.l.Archive(t.Context(), "archive-test", first.SHA, &buf); err != nil {
		t.Fatal(err)
	}
	if got := untar(t, &buf); len(got) != 1 || got["package.json"] != "{}\n" {
		t.Fatalf("archive at the first commit = %v", got)
	}
	for _, ref := range []string{"nope", "deadbeef"} {
		if err := e.l.Archive(t.Context(), "archive-test", ref, io.Discard); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("ref %q: %v, want not found", ref, err)
		}
	}
	for _, ref := range []string{"--output=/tmp/x", "main:secret", "a b"} {
		if err := e.l.Archive(t.Context(), "archive-test", ref, io.Discard); !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("ref %q: %v, want invalid", ref, err)
		}
	}
	if err := e.l.Archive(t.Context(), "no-such-repo", "", io.Discard); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("missing repository: %v", err)
	}
}

func untar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	got := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			got[h.Name] = string(b)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCreateDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("life-test")
	e.create("life-test") // idempotent
	if head := e.serverGit("life-test", "symbolic-ref", "HEAD"); head != "refs/heads/main" {
		t.Fatalf("HEAD = %s", head)
	}
	st, err := os.Stat(filepath.Join(e.repoDir("life-test"), "hooks", "post-receive"))
	if err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Fatalf("hook: %v %v", st, err)
	}
	if err := e.l.Create(t.Context(), "Not_Valid"); !errors.Is(err, errs.ErrInvalid) {
		t.Fatalf("invalid name: %v", err)
	}
	for range 2 {
		if err := e.l.Delete(t.Context(), "life-test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(e.repoDir("life-test")); !os.IsNotExist(err) {
		t.Fatalf("repository still there: %v", err)
	}
	if _, err := e.gitCmd("", "ls-remote", e.url("life-test", testUser, testPass)); err == nil {
		t.Fatal("ls-remote of a deleted repository succeeded")
	}
	// Concurrent creates of one project all succeed.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := e.l.Create(t.Context(), "life-test"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	entries, _ := os.ReadDir(filepath.Join(e.repos, ".tmp"))
	if len(entries) != 0 {
		t.Errorf("scratch left behind: %v", entries)
	}
}

// A git push that lands between PutFile's read of the branch and its
// update-ref makes the compare-and-swap fail; PutFile starts over on the
// pushed commit, and both commits are on main.
func TestPutFileRetriesAfterPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("cas-test")
	if _, err := e.l.PutFile(t.Context(), "cas-test", gitpush.File{Path: "start", Content: []byte("0")}); err != nil {
		t.Fatal(err)
	}
	<-e.events
	dir := e.clone("cas-test")
	writeFile(t, filepath.Join(dir, "client"), []byte("c"))
	e.git(dir, "add", ".")
	e.git(dir, "commit", "--quiet", "-m", "client")
	client := e.git(dir, "rev-parse", "HEAD")
	var attempts []int
	gitpush.SetBeforeUpdateRef(e.l, func(project string, attempt int) {
		attempts = append(attempts, attempt)
		if attempt == 1 { // the push lands now, after PutFile read the branch
			e.git(dir, "push", "--quiet", "origin", "main")
		}
	})
	c, err := e.l.PutFile(t.Context(), "cas-test", gitpush.File{Path: "api", Content: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(attempts, []int{1, 2}) {
		t.Fatalf("attempts = %v, want [1 2]", attempts)
	}
	if c.Parent != client {
		t.Fatalf("PutFile's parent = %s, want the pushed %s", c.Parent, client)
	}
	if files := e.serverGit("cas-test", "ls-tree", "--name-only", "main"); files != "api\nclient\nstart" {
		t.Fatalf("files on main: %q", files)
	}
	// Two events, push first, and they chain.
	ev1, ev2 := e.nextEvent(), e.nextEvent()
	if ev1.Source != gitpush.SourceHTTP || ev1.Updates[0].New != client || ev2.Source != gitpush.SourceAPI || ev2.Updates[0].Old != client || ev2.Updates[0].New != c.SHA {
		t.Fatalf("events %+v then %+v", ev1, ev2)
	}

	// A branch that moves on every attempt gives up with a conflict.
	n := 0
	gitpush.SetBeforeUpdateRef(e.l, func(project string, attempt int) {
		n++
		e.git(dir, "pull", "--quiet", "--rebase", "origin", "main")
		writeFile(t, filepath.Join(dir, "client"), []byte(fmt.Sprint(n)))
		e.git(dir, "commit", "--quiet", "-am", fmt.Sprint("client ", n))
		e.git(dir, "push", "--quiet", "origin", "main")
	})
	_, err = e.l.PutFile(t.Context(), "cas-test", gitpush.File{Path: "api2", Content: []byte("a")})
	if !errors.Is(err, errs.ErrConflict) {
		t.Fatalf("PutFile on a branch that keeps moving: %v", err)
	}
}
