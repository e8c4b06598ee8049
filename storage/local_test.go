package storage_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/storage"
	"github.com/mosaic-platform/mosaic/storage/storagetest"
)

// newLocal returns a Local store whose URLs are served by a test server.
func newLocal(t testing.TB, now func() time.Time) (*storage.Local, string) {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	st, err := storage.NewLocal(storage.LocalConfig{Dir: dir, BaseURL: srv.URL + "/s3", Secret: []byte("0123456789abcdef0123"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mux := http.NewServeMux()
	mux.Handle("/s3/", http.StripPrefix("/s3", st))
	h = mux
	return st, dir
}

func TestStorageLocalContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.Store, string) {
		st, _ := newLocal(t, nil)
		return st, "mosaic"
	})
}

func TestStorageLocalLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, dir := newLocal(t, nil)
	if err := st.Put(ctx, "mosaic", "a/b.txt", strings.NewReader("hi"), 2, "text/plain"); err != nil {
		t.Fatal(err)
	}
	// One file per object, nothing left in tmp.
	if _, err := os.Stat(filepath.Join(dir, "objects", "mosaic", "a", "b.txt")); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// A key cannot be a file and a folder at once.
	if err := st.Put(ctx, "mosaic", "a/b.txt/c", strings.NewReader("x"), 1, ""); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("Put under a file: %v, want Conflict", err)
	}
	if err := st.Put(ctx, "mosaic", "a", strings.NewReader("x"), 1, ""); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("Put over a folder: %v, want Conflict", err)
	}
	// A wrong announced size leaves nothing behind.
	if err := st.Put(ctx, "mosaic", "short", strings.NewReader("abc"), 10, ""); !errors.Is(err, errs.ErrInvalid) {
		t.Errorf("Put with a wrong size: %v", err)
	}
	if _, err := st.Stat(ctx, "mosaic", "short"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("object of a failed Put: %v", err)
	}
	// Deleting the last object of a folder removes the folder.
	if err := st.Delete(ctx, "mosaic", "a/b.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "objects", "mosaic", "a")); !os.IsNotExist(err) {
		t.Errorf("empty folder kept: %v", err)
	}
	// A symlink planted in the data dir cannot lead outside it.
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "x.txt"), []byte("outside"), 0o600)
	os.MkdirAll(filepath.Join(dir, "objects", "mosaic"), 0o700)
	if err := os.Symlink(outside, filepath.Join(dir, "objects", "mosaic", "link")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Get(ctx, "mosaic", "link/x.txt"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Get through a symlink out of the data dir: %v, want NotFound", err)
	}
}

// The clock decides expiry, so a URL can be tested one second before and after.
func TestStorageLocalURLExpiry(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	ctx := context.Background()
	st, _ := newLocal(t, func() time.Time { return clock() })
	if err := st.Put(ctx, "mosaic", "k.txt", strings.NewReader("v"), 1, "text/plain"); err != nil {
		t.Fatal(err)
	}
	u, err := st.PresignGet(ctx, "mosaic", "k.txt", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	status := func() int {
		resp, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	clock = func() time.Time { return now.Add(time.Hour - time.Second) }
	if c := status(); c != http.StatusOK {
		t.Errorf("a second before expiry: %d", c)
	}
	clock = func() time.Time { return now.Add(time.Hour + time.Second) }
	if c := status(); c != http.StatusForbidden {
		t.Errorf("a second after expiry: %d", c)
	}
	// Downloads never run as pages of the server's origin.
	clock = time.Now
	resp, err := http.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Security-Policy") != "sandbox" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("download headers: %v", resp.Header)
	}
}

func TestStorageLocalMaxSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newLocal(t, nil)
	u, err := st.PresignPut(ctx, "mosaic", "capped.bin", storage.PutOptions{Expires: time.Minute, MaxSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body    string
		chunked bool
		want    int
	}{{"0123456789", false, 200}, {"0123456789a", false, 413}, {"0123456789abc", true, 413}} {
		var body io.Reader = strings.NewReader(tc.body)
		if tc.chunked {
			body = io.MultiReader(body) // unknown length: sent chunked
		}
		req, _ := http.NewRequest(http.MethodPut, u.String(), body)
		req.Header.Set("Content-Type", storage.DefaultContentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("PUT %d bytes (chunked %v): %d, want %d", len(tc.body), tc.chunked, resp.StatusCode, tc.want)
		}
	}
	if info, err := st.Stat(ctx, "mosaic", "capped.bin"); err != nil || info.Size != 10 {
		t.Errorf("after the refused PUTs: %+v %v", info, err)
	}
}

func TestStorageCheckKey(t *testing.T) {
	t.Parallel()
	good := []string{"a", "a/b.txt", "photos/cat.jpg", "ünï cødé", "a..b", "...x", "%2e%2e/x", strings.Repeat("k", 1024)}
	bad := []string{"", "/a", "..", "../x", "a/../../x", "a/..", ".", "./a", "a/./b", "a//b", "a/", "a\\..\\x",
		"a\x00b", "a\nb", "a\x7fb", "a\u0085b", "\xff", strings.Repeat("k", 1025)}
	for _, k := range good {
		if err := storage.CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v", k, err)
		}
	}
	for _, k := range bad {
		err := storage.CheckKey(k)
		var e *errs.Error
		if !errors.As(err, &e) || e.Kind != errs.Invalid || e.Code != "invalid_key" {
			t.Errorf("CheckKey(%q) = %v, want invalid_key", k, err)
		}
	}
}

func TestStorageCheckSitePath(t *testing.T) {
	t.Parallel()
	good := []string{"index.html", "css/site.css", "a/b/c.JS", ".well-known/security.txt", "img/logo@2x.png", "fonts/x.woff2"}
	bad := map[string]string{
		"": "invalid_path", "../x.html": "invalid_path", "/index.html": "invalid_path", ".env": "invalid_path",
		".git/config": "invalid_path", "a/.hidden.html": "invalid_path", ".well-known": "invalid_path",
		"a b.html": "invalid_path", "x%2e.html": "invalid_path", "shell.php": "unsupported_file_type",
		"README": "unsupported_file_type", "app.exe": "unsupported_file_type", "x.html.zip": "unsupported_file_type",
	}
	for _, p := range good {
		if err := storage.CheckSitePath(p); err != nil {
			t.Errorf("CheckSitePath(%q) = %v", p, err)
		}
	}
	for p, code := range bad {
		err := storage.CheckSitePath(p)
		if e := errs.As(err); err == nil || e.Kind != errs.Invalid || e.Code != code {
			t.Errorf("CheckSitePath(%q) = %v, want %s", p, err, code)
		}
	}
	if ct, _ := storage.SiteContentType("A.HTML"); ct != "text/html; charset=utf-8" {
		t.Errorf("SiteContentType(A.HTML) = %q", ct)
	}
}

func FuzzStorageCheckKey(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a//b", "\x00", "ü/x.txt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if storage.CheckKey(k) != nil {
			return
		}
		// An accepted key is relative, clean and free of control characters.
		if filepath.IsAbs(k) || filepath.Clean(k) != k || !filepath.IsLocal(k) || strings.ContainsAny(k, "\x00\n\r\\") {
			t.Fatalf("accepted %q", k)
		}
	})
}

func TestStorageServeObject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newLocal(t, nil)
	page := bytes.Repeat([]byte("<p>hello</p>\n"), 200)
	if err := st.Put(ctx, "mosaic", "index.html", bytes.NewReader(page), int64(len(page)), "text/html; charset=utf-8"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc, info, err := st.Get(r.Context(), "mosaic", "index.html")
		if err != nil {
			t.Error(err)
			return
		}
		defer rc.Close()
		storage.ServeObject(w, r, rc, info, storage.ServeOptions{Gzip: true})
	}))
	defer srv.Close()
	tr := &http.Transport{DisableCompression: true}
	do := func(method string, h map[string]string) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, srv.URL, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := do("GET", nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !bytes.Equal(body, page) || etag == "" || resp.Header.Get("Last-Modified") == "" ||
		resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := do("GET", map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	if resp, _ := do("GET", map[string]string{"If-Modified-Since": resp.Header.Get("Last-Modified")}); resp.StatusCode != 304 {
		t.Errorf("If-Modified-Since: %d", resp.StatusCode)
	}
	if resp, b := do("GET", map[string]string{"Range": "bytes=3-5"}); resp.StatusCode != 206 || string(b) != "hel" {
		t.Errorf("Range: %d %q", resp.StatusCode, b)
	}
	if resp, b := do("HEAD", nil); resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength != int64(len(page)) {
		t.Errorf("HEAD: %d, %d bytes, length %d", resp.StatusCode, len(b), resp.ContentLength)
	}
	resp, b := do("GET", map[string]string{"Accept-Encoding": "gzip"})
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") == etag || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("gzip: %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := io.ReadAll(zr); !bytes.Equal(plain, page) || len(b) >= len(page) {
		t.Errorf("gzip body: %d compressed bytes, decoded equal %v", len(b), bytes.Equal(plain, page))
	}
	if resp, _ := do("GET", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": resp.Header.Get("ETag")}); resp.StatusCode != 304 {
		t.Errorf("gzip If-None-Match: %d", resp.StatusCode)
	}
	if resp, _ := do("GET", map[string]string{"Accept-Encoding": "gzip;q=0"}); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 still compressed")
	}
}

// slowReader yields its bytes a chunk at a time, pausing between chunks.
type slowReader struct {
	data  []byte
	chunk int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	n := copy(p[:min(len(p), s.chunk)], s.data)
	s.data = s.data[n:]
	return n, nil
}

// TestStorageLocalSlowUpload: a presigned upload that takes longer than
// the server's ReadTimeout (mosaic serve sets one) still lands: the
// handler extends the connection's read deadline for a signed body.
func TestStorageLocalSlowUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	var h http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	srv.Config.ReadTimeout = 500 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	st, err := storage.NewLocal(storage.LocalConfig{Dir: dir, BaseURL: srv.URL, Secret: []byte("0123456789abcdef0123")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h = st
	data := bytes.Repeat([]byte("slow"), 1000)
	u, err := st.PresignPut(ctx, "mosaic", "slow.bin", storage.PutOptions{Expires: time.Minute, Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	// 4,000 bytes in 10 chunks, 150 ms apart: 1.5 s, three times the ReadTimeout.
	req, _ := http.NewRequest("PUT", u.String(), &slowReader{data: data, chunk: 400, pause: 150 * time.Millisecond})
	req.ContentLength = int64(len(data))
	req.Header.Set("Content-Type", storage.DefaultContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("slow upload: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("slow upload: %d %s", resp.StatusCode, b)
	}
	if info, err := st.Stat(ctx, "mosaic", "slow.bin"); err != nil || info.Size != int64(len(data)) {
		t.Fatalf("after the slow upload: %+v %v", info, err)
	}
}
