package gitpush_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mosaic-platform/mosaic/gitpush"
)

// A real git client clones an empty repository, pushes a 3 MiB file (a
// chunked request body, which net/http/cgi would refuse), and a second clone
// gets the same bytes. The push yields exactly one event.
func TestCloneEmptyPushLargeFileCloneAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("big-one")

	dir := e.clone("big-one")
	big := make([]byte, 3<<20)
	rand.Read(big)
	writeFile(t, filepath.Join(dir, "data", "blob.bin"), big)
	e.git(dir, "add", ".")
	e.git(dir, "commit", "--quiet", "-m", "Add 3 MiB")
	local := e.git(dir, "rev-parse", "HEAD")
	e.git(dir, "push", "--quiet", "origin", "main")

	if got := e.head("big-one", "main"); got != local {
		t.Fatalf("server main = %q, want %q", got, local)
	}
	ev := e.nextEvent()
	want := gitpush.PushEvent{Project: "big-one", Source: gitpush.SourceHTTP,
		Updates: []gitpush.RefUpdate{{Ref: "refs/heads/main", Old: gitpush.ZeroID, New: local}}}
	if !eventEqual(ev, want) {
		t.Fatalf("event = %+v, want %+v", ev, want)
	}

	chunked := false
	for _, r := range e.requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/git-receive-pack") && slices.Contains(r.TransferEncoding, "chunked") {
			chunked = true
		}
	}
	if !chunked {
		t.Fatalf("the push did not use a chunked body; requests: %+v", e.requests())
	}

	again := e.clone("big-one")
	got, err := os.ReadFile(filepath.Join(again, "data", "blob.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("the second clone has different bytes")
	}
	if out := e.serverGit("big-one", "fsck", "--strict"); strings.Contains(out, "error") {
		t.Fatalf("fsck: %s", out)
	}
}

// Protocol v0 (no Git-Protocol header) and v2 (git's default) both clone.
func TestCloneProtocolVersions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("proto-test")
	c, err := e.l.PutFile(t.Context(), "proto-test", gitpush.File{Path: "a.txt", Content: []byte("a\n")})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0", "1", "2"} {
		dir := e.clone("proto-test", "-c", "protocol.version="+v)
		if got := e.git(dir, "rev-parse", "HEAD"); got != c.SHA {
			t.Errorf("protocol v%s: HEAD = %s, want %s", v, got, c.SHA)
		}
	}
}

// A gzip-encoded upload-pack request (which git sends for long negotiations)
// is decoded: a hand-made v0 "want ... done" request gets a pack.
func TestUploadPackGzipBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("gzip-test")
	c, err := e.l.PutFile(t.Context(), "gzip-test", gitpush.File{Path: "a.txt", Content: []byte("hello\n")})
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	pkt := func(s string) { fmt.Fprintf(&raw, "%04x%s", len(s)+4, s) }
	pkt("want " + c.SHA + "\n")
	raw.WriteString("0000")
	pkt("done\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()

	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/git/gzip-test.git/git-upload-pack", &gz)
	req.SetBasicAuth(testUser, testPass)
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-git-upload-pack-result" {
		t.Fatalf("status %d, type %q: %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !bytes.HasPrefix(body, []byte("0008NAK\nPACK")) {
		t.Fatalf("response does not start with NAK and a pack: %q", body[:min(len(body), 40)])
	}
}

// Wrong or missing credentials get 401 with a Basic challenge, and a push
// with a wrong password changes no ref.
func TestAuthRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("auth-test")
	c, err := e.l.PutFile(t.Context(), "auth-test", gitpush.File{Path: "a.txt", Content: []byte("a\n")})
	if err != nil {
		t.Fatal(err)
	}
	<-e.events

	dir := e.clone("auth-test")
	writeFile(t, filepath.Join(dir, "b.txt"), []byte("b\n"))
	e.git(dir, "add", ".")
	e.git(dir, "commit", "--quiet", "-m", "b")
	e.git(dir, "remote", "set-url", "origin", e.url("auth-test", testUser, "wrong"))
	out, err := e.gitCmd(dir, "push", "origin", "main")
	if err == nil {
		t.Fatalf("push with a wrong password succeeded: %s", out)
	}
	if !strings.Contains(out, "401") && !strings.Contains(out, "Authentication failed") {
		t.Errorf("push output does not mention the refusal: %s", out)
	}
	if got := e.head("auth-test", "main"); got != c.SHA {
		t.Fatalf("main moved to %s after a refused push", got)
	}
	if _, err := e.gitCmd("", "ls-remote", e.url("auth-test", "", "")); err == nil {
		t.Fatal("ls-remote without credentials succeeded")
	}

	for _, tc := range []struct {
		name, user, pass string
		auth             bool
	}{
		{"none", "", "", false},
		{"wrong password", testUser, "nope", true},
		{"wrong user", "someone", testPass, true},
	} {
		for _, svc := range []string{"git-upload-pack", "git-receive-pack"} {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/git/auth-test.git/info/refs?service="+svc, nil)
			if tc.auth {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="mosaic git"` {
				t.Errorf("%s %s: status %d, WWW-Authenticate %q", tc.name, svc, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
	// No event came from the refused push: the next event is this PutFile's.
	c2, err := e.l.PutFile(t.Context(), "auth-test", gitpush.File{Path: "c.txt", Content: []byte("c\n")})
	if err != nil {
		t.Fatal(err)
	}
	if ev := e.nextEvent(); ev.Source != gitpush.SourceAPI || ev.Updates[0].New != c2.SHA {
		t.Fatalf("unexpected event %+v", ev)
	}
}

// Paths other than the smart protocol's, unknown projects and wrong methods.
func TestHTTPRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("route-test")
	e.create("hidden-one") // exists, but Authorize hides it
	e.create("busy-one")   // exists, but Authorize says it is not ready: its own status, not a 500
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/git/route-test.git/info/refs?service=git-upload-pack", 200},
		{"GET", "/git/route-test.git/info/refs?service=git-receive-pack", 200},
		{"HEAD", "/git/route-test.git/info/refs?service=git-upload-pack", 200},
		{"GET", "/git/route-test.git/info/refs", 404}, // dumb HTTP
		{"GET", "/git/route-test.git/info/refs?service=git-upload-archive", 404},
		{"GET", "/git/route-test.git/HEAD", 404},
		{"GET", "/git/route-test.git/objects/info/packs", 404},
		{"GET", "/git/route-test.git/config", 404},
		{"GET", "/git/route-test.git/hooks/post-receive", 404},
		{"GET", "/git/route-test/info/refs?service=git-upload-pack", 404},
		{"GET", "/git/", 404},
		{"GET", "/git/no-such-repo.git/info/refs?service=git-upload-pack", 404},
		{"GET", "/git/hidden-one.git/info/refs?service=git-upload-pack", 404},
		{"GET", "/git/busy-one.git/info/refs?service=git-upload-pack", 409},
		{"GET", "/git/Bad_Name.git/info/refs?service=git-upload-pack", 404},
		{"GET", "/git/../repos/route-test.git/info/refs?service=git-upload-pack", 404},
		{"GET", "/git/route-test.git/git-upload-pack", 405},
		{"POST", "/git/route-test.git/info/refs?service=git-upload-pack", 405},
	} {
		req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, nil)
		req.SetBasicAuth(testUser, testPass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
	// Wrong content type on an RPC.
	req, _ := http.NewRequest("POST", e.srv.URL+"/git/route-test.git/git-receive-pack", strings.NewReader("0000"))
	req.SetBasicAuth(testUser, testPass)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("wrong content type: status %d", resp.StatusCode)
	}
}

// A push body over MaxPushBytes is refused and changes nothing.
func TestPushTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	small, err := gitpush.New(gitpush.Config{Dir: e.repos, MaxPushBytes: 64 << 10,
		Authorize: func(_ context.Context, _, _, _ string) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.StripPrefix("/git", small))
	srv.Config.ErrorLog = log.New(serverLog{t}, "", 0)
	srv.Start()
	defer srv.Close()
	e.create("limit-test")
	dir := e.clone("limit-test")
	big := make([]byte, 256<<10)
	rand.Read(big)
	writeFile(t, filepath.Join(dir, "big.bin"), big)
	e.git(dir, "add", ".")
	e.git(dir, "commit", "--quiet", "-m", "big")
	out, err := e.gitCmd(dir, "push", "http://u:p@"+strings.TrimPrefix(srv.URL, "http://")+"/git/limit-test.git", "main")
	if err == nil {
		t.Fatalf("push over the limit succeeded: %s", out)
	}
	if h := e.head("limit-test", "main"); h != "" {
		t.Fatalf("main = %s after a refused push", h)
	}
}

func eventEqual(a, b gitpush.PushEvent) bool {
	return a.Project == b.Project && a.Source == b.Source && slices.Equal(a.Updates, b.Updates)
}

// When git exits before the client has sent the whole body, the handler
// answers and returns without waiting for the rest of the body; a body
// that is not git protocol is the client's mistake: 400.
func TestRPCGitExitsEarly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("early-test")
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("zzzz garbage that is not a pkt-line"))
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/git/early-test.git/git-upload-pack", pr)
	req.SetBasicAuth(testUser, testPass)
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}

// TestRPCUnreadBodyClosesConnection: when git leaves part of a request
// body unread, the answer closes the connection, and the client's next
// request (on a new connection) is served; a request whose body was all
// read keeps its connection. The test server has no ReadTimeout, as a mux
// mounted without timeouts: on the old code the next request reused the
// connection, whose context net/http had cancelled, and failed with 500.
func TestRPCUnreadBodyClosesConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create("unread-test")
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	var reused []bool
	send := func(method, path, ctype, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+"/git/unread-test.git"+path, strings.NewReader(body))
		req.SetBasicAuth(testUser, testPass)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	const refs = "/info/refs?service=git-upload-pack"
	if r := send("GET", refs, "", ""); r.StatusCode != 200 || r.Close {
		t.Fatalf("info/refs: %d, close %v", r.StatusCode, r.Close)
	}
	// Git reads all of a flush-only request: the connection stays.
	if r := send("POST", "/git-upload-pack", "application/x-git-upload-pack-request", "0000"); r.StatusCode >= 500 || r.Close {
		t.Fatalf("flush-only request: %d, close %v", r.StatusCode, r.Close)
	}
	// Git refuses the first bytes of 70,000 and reads no more.
	r := send("POST", "/git-receive-pack", "application/x-git-receive-pack-request", strings.Repeat("z", 70000))
	if r.StatusCode != http.StatusBadRequest || !r.Close {
		t.Fatalf("garbage push: %d, close %v; want 400 and Connection: close", r.StatusCode, r.Close)
	}
	if r := send("GET", refs, "", ""); r.StatusCode != 200 {
		t.Fatalf("info/refs after the abandoned body: %d", r.StatusCode)
	}
	if want := []bool{false, true, true, false}; !slices.Equal(reused, want) {
		t.Fatalf("connections reused %v, want %v", reused, want)
	}
}
