package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// stores runs f once on the S3 store (MinIO) and once on the local one.
func stores(t *testing.T, f func(t *testing.T, env *mosaictest.Env), opts ...mosaictest.Option) {
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		env := mosaictest.New(t, opts...)
		if env.S3 == nil {
			t.Fatal("no S3 server behind the Env (see the harness's message about MinIO)")
		}
		f(t, env)
	})
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		f(t, mosaictest.New(t, append(opts, mosaictest.WithLocalStorage())...))
	})
}

// httpDo sends a request with a real net/http client, as curl would.
func httpDo(t *testing.T, method, rawURL string, header map[string]string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestStorageRoundTrip: upload URL → PUT with net/http → confirm → the
// listing shows the size → the download URL returns the same bytes →
// delete → gone; on both stores.
func TestStorageRoundTrip(t *testing.T) {
	stores(t, func(t *testing.T, env *mosaictest.Env) {
		ctx := context.Background()
		slug := env.Project(t).Slug
		st := env.Client.Storage(slug)
		data := bytes.Repeat([]byte("mosaic\x00\xff"), 3000)
		name := "photos/cat 1+ü.jpg"

		a := do(t, env, call{method: "POST", path: "/" + slug + "/storage/upload",
			body: fmt.Sprintf(`{"filename": %q, "content_type": "image/jpeg", "expires": 600, "size": %d}`, name, len(data))})
		shape(t, "upload", a, 200, "upload_url", "method", "headers", "filename", "expires_in", "expires_at")
		if strings.Contains(string(a.body), `\u0026`) || !strings.Contains(string(a.body), "&X-") {
			t.Errorf("the upload URL's & should be written as is, for a URL copied out of the JSON: %s", a.body)
		}
		if a.json["method"] != "PUT" || a.json["expires_in"] != float64(600) || a.json["filename"] != name {
			t.Fatalf("upload: %s", a.body)
		}
		hdrs := map[string]string{}
		for k, v := range a.json["headers"].(map[string]any) {
			hdrs[k] = v.(string)
		}
		if hdrs["Content-Type"] != "image/jpeg" {
			t.Fatalf("headers to send: %v", hdrs)
		}
		if code, _, b := httpDo(t, "PUT", a.json["upload_url"].(string), hdrs, data); code != 200 {
			t.Fatalf("PUT to the upload URL: %d %s", code, b)
		}
		if _, err := st.Confirm(ctx, name); err != nil {
			t.Fatal(err)
		}

		l, err := st.List(ctx, "photos/")
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Files) != 1 || l.Files[0].Filename != name || l.Files[0].Size != int64(len(data)) || l.Files[0].ContentType != "image/jpeg" ||
			l.Files[0].LastModified.IsZero() || l.Files[0].URL == "" {
			t.Fatalf("list: %+v", l.Files)
		}
		if l.Usage.UsedBytes != int64(len(data)) || l.Usage.FilesBytes != int64(len(data)) || l.Usage.LimitBytes != 5<<30 || l.Usage.Limit != "5.0 GB" || l.Usage.Used == "" {
			t.Errorf("usage: %+v", l.Usage)
		}
		a = do(t, env, call{method: "GET", path: "/" + slug + "/storage/files"})
		shape(t, "list", a, 200, "files", "truncated", "usage")

		for _, get := range []func(context.Context, string) (*client.DownloadURL, error){st.DownloadURL, st.FileURL} {
			d, err := get(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if d.ExpiresIn != 3600 || d.Size != int64(len(data)) || d.Method != "GET" {
				t.Errorf("download: %+v", d)
			}
			code, h, b := httpDo(t, "GET", d.DownloadURL, nil, nil)
			if code != 200 || !bytes.Equal(b, data) || h.Get("Content-Type") != "image/jpeg" {
				t.Fatalf("GET download URL: %d, %d bytes, %s", code, len(b), h.Get("Content-Type"))
			}
		}
		// The listing's URL works too.
		if code, _, b := httpDo(t, "GET", l.Files[0].URL, nil, nil); code != 200 || !bytes.Equal(b, data) {
			t.Fatalf("GET listing URL: %d", code)
		}

		d, _ := st.DownloadURL(ctx, name)
		if err := st.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
		if l, _ := st.List(ctx, ""); len(l.Files) != 0 || l.Usage.UsedBytes != 0 {
			t.Errorf("after delete: %+v", l)
		}
		if _, err := st.DownloadURL(ctx, name); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("download URL after delete: %v", err)
		}
		if code, _, _ := httpDo(t, "GET", d.DownloadURL, nil, nil); code != 404 {
			t.Errorf("old download URL after delete: %d", code)
		}
		if err := st.Delete(ctx, name); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}

		// The client's one-call upload.
		if f, err := st.Upload(ctx, "notes.txt", "", []byte("hello")); err != nil || f.Size != 5 || f.ContentType != "text/plain; charset=utf-8" {
			t.Fatalf("Upload: %+v %v", f, err)
		}
	})
}

// TestStorageURLsRefused: an expired or tampered URL is refused (403), an
// upload URL checks the declared size and type.
func TestStorageURLsRefused(t *testing.T) {
	stores(t, func(t *testing.T, env *mosaictest.Env) {
		ctx := context.Background()
		st := env.Client.Storage(env.Project(t).Slug)
		if _, err := st.Upload(ctx, "a.txt", "text/plain", []byte("AAAA")); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Upload(ctx, "b.txt", "text/plain", []byte("BBBB")); err != nil {
			t.Fatal(err)
		}
		d, err := st.DownloadURL(ctx, "a.txt")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(d.DownloadURL)
		u.Path = strings.Replace(u.Path, "a.txt", "b.txt", 1)
		u.RawPath = ""
		if code, _, b := httpDo(t, "GET", u.String(), nil, nil); code != 403 || bytes.Contains(b, []byte("BBBB")) {
			t.Errorf("download URL with another key: %d %s", code, b)
		}
		q := strings.Replace(d.DownloadURL, "Signature=", "Signature=0", 1)
		if code, _, _ := httpDo(t, "GET", q, nil, nil); code != 403 {
			t.Errorf("download URL with a changed signature: %d", code)
		}
		up, err := st.UploadURL(ctx, client.UploadRequest{Filename: "c.txt", ContentType: "text/plain", Size: 3, Expires: 600})
		if err != nil {
			t.Fatal(err)
		}
		if code, _, _ := httpDo(t, "PUT", up.UploadURL, map[string]string{"Content-Type": "text/html"}, []byte("abc")); code != 403 {
			t.Errorf("PUT with another content type: %d", code)
		}
		if code, _, _ := httpDo(t, "PUT", up.UploadURL, up.Headers, []byte("abcd")); code != 403 {
			t.Errorf("PUT with another size: %d", code)
		}
		up, err = st.UploadURL(ctx, client.UploadRequest{Filename: "c.txt", ContentType: "text/plain", Size: 3, Expires: 1})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2100 * time.Millisecond) // URLs expire by the second
		if code, _, _ := httpDo(t, "PUT", up.UploadURL, up.Headers, []byte("abc")); code != 403 {
			t.Errorf("PUT after expiry: %d", code)
		}
		if _, err := st.Confirm(ctx, "c.txt"); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("confirm of a refused upload: %v", err)
		}
	})
}

// TestStorageIsolation: another account's project cannot be listed,
// downloaded or deleted, and a URL of one project never reaches another's.
func TestStorageIsolation(t *testing.T) {
	stores(t, func(t *testing.T, env *mosaictest.Env) {
		ctx := context.Background()
		a := env.Project(t).Slug
		_, _, other := env.NewAccount(t)
		bp, err := other.CreateProject(ctx, client.CreateProjectRequest{Name: "other"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.DeleteProject(context.Background(), bp.Slug) })
		b := bp.Slug
		if _, err := env.Client.Storage(a).Upload(ctx, "secret.txt", "text/plain", []byte("A's secret")); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Client.PutSiteFile(ctx, a, "private.html", []byte("<p>A</p>")); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Storage(b).Upload(ctx, "mine.txt", "text/plain", []byte("B's")); err != nil {
			t.Fatal(err)
		}

		// B's key on A's project: 404 everywhere, as for a project that does not exist.
		sa := other.Storage(a)
		if _, err := sa.List(ctx, ""); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("B lists A: %v", err)
		}
		if _, err := sa.DownloadURL(ctx, "secret.txt"); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("B downloads A's file: %v", err)
		}
		if err := sa.Delete(ctx, "secret.txt"); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("B deletes A's file: %v", err)
		}
		if _, err := sa.UploadURL(ctx, client.UploadRequest{Filename: "secret.txt"}); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("B uploads to A: %v", err)
		}
		if _, err := other.SiteFiles(ctx, a, ""); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("B lists A's site: %v", err)
		}
		if err := other.DeleteSiteFile(ctx, a, "private.html"); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("B deletes A's site file: %v", err)
		}
		// B's own project never shows A's objects.
		l, err := other.Storage(b).List(ctx, "")
		if err != nil || len(l.Files) != 1 || l.Files[0].Filename != "mine.txt" {
			t.Errorf("B's listing: %+v %v", l, err)
		}
		for _, name := range []string{"secret.txt", "../" + a + "/secret.txt"} {
			if _, err := other.Storage(b).DownloadURL(ctx, name); err == nil {
				t.Errorf("B's project found %q", name)
			}
		}
		// A's file is still there.
		d, err := env.Client.Storage(a).DownloadURL(ctx, "secret.txt")
		if err != nil {
			t.Fatal(err)
		}
		// B's own URL, pointed at A's object, is refused.
		db, err := other.Storage(b).DownloadURL(ctx, "mine.txt")
		if err != nil {
			t.Fatal(err)
		}
		ua, _ := url.Parse(d.DownloadURL)
		ub, _ := url.Parse(db.DownloadURL)
		ub.Path, ub.RawPath = ua.Path, ua.RawPath
		if code, _, body := httpDo(t, "GET", ub.String(), nil, nil); code != 403 || bytes.Contains(body, []byte("A's secret")) {
			t.Errorf("B's signature on A's key: %d %s", code, body)
		}
		// B's site host does not serve A's page.
		srv := httptest.NewServer(env.Handler.Sites(http.NotFoundHandler()))
		defer srv.Close()
		if code, _, body := httpDo(t, "GET", srv.URL+"/private.html", map[string]string{"Host": b + "." + env.Platform.Domain()}, nil); code != 404 || bytes.Contains(body, []byte("<p>A</p>")) {
			t.Errorf("B's site served A's page: %d", code)
		}
	})
}

// TestStorageBadKeys: names that are empty, absolute, with "..", control
// characters or over 1024 bytes are 400s, on every route that takes one.
func TestStorageBadKeys(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithLocalStorage())
	slug := env.Project(t).Slug
	long := strings.Repeat("k", 1025)
	for _, name := range []string{"", "/etc/passwd", "../x", "a/../../x", "a/..", "a\x00b", "a\nb", "a\x1bb", `a\..\x`, "a//b", "dir/", long, strings.Repeat("k", 1000)} {
		body, _ := json.Marshal(map[string]string{"filename": name})
		a := do(t, env, call{method: "POST", path: "/" + slug + "/storage/upload", body: string(body)})
		if a.status != 400 || a.json["error"] != "invalid_key" || a.json["detail"] == "" {
			t.Errorf("upload %q: %d %s", name, a.status, a.body)
		}
		a = do(t, env, call{method: "POST", path: "/" + slug + "/storage/confirm?filename=" + url.QueryEscape(name)})
		if a.status != 400 {
			t.Errorf("confirm %q: %d %s", name, a.status, a.body)
		}
		a = do(t, env, call{method: "POST", path: "/" + slug + "/files", body: string(bodyWith(name))})
		if a.status != 400 {
			t.Errorf("site upload %q: %d %s", name, a.status, a.body)
		}
	}
	for _, p := range []string{"a%00b", "a%0Ab", "a%5C..%5Cx", long} {
		for _, route := range []string{"GET /storage/download/", "GET /storage/files/", "DELETE /storage/files/", "DELETE /files/"} {
			m, r, _ := strings.Cut(route, " ")
			a := do(t, env, call{method: m, path: "/" + slug + r + p})
			if a.status != 400 {
				t.Errorf("%s%s: %d %s", route, p, a.status, a.body)
			}
		}
	}
	// ".." in a URL path never reaches the route: net/http's mux answers
	// with a redirect to the cleaned path (a client that follows it asks
	// again, for the other name).
	if _, err := env.Client.Storage(slug).Upload(context.Background(), "keep.txt", "", []byte("k")); err != nil {
		t.Fatal(err)
	}
	if code, _, b := httpDo(t, "DELETE", env.BaseURL+"/"+slug+"/storage/files/x/../keep.txt", map[string]string{"X-API-Key": env.APIKey}, nil); code/100 != 3 {
		t.Errorf("DELETE with ..: %d %s", code, b)
	}
	if _, err := env.Client.Storage(slug).DownloadURL(context.Background(), "keep.txt"); err != nil {
		t.Errorf("keep.txt after a DELETE with ..: %v", err)
	}
	for _, p := range []string{"..%2Fx", "a%2F..%2F..%2Fx"} {
		a := do(t, env, call{method: "GET", path: "/" + slug + "/storage/files?prefix=" + p})
		if a.status != 400 || a.json["error"] != "invalid_prefix" {
			t.Errorf("prefix %s: %d %s", p, a.status, a.body)
		}
	}
	for _, body := range []string{`{"filename": "a.txt", "expires": 0}`, `{"filename": "a.txt", "expires": 604801}`, `{"filename": "a.txt", "size": -1}`,
		`{"filename": "a.txt", "content_type": "bad"}`, `{"filename": "a.txt", "content_type": "text/plain\r\nX: y"}`, `{"filename": 5}`, `[`} {
		a := do(t, env, call{method: "POST", path: "/" + slug + "/storage/upload", body: body})
		if a.status != 400 {
			t.Errorf("upload %s: %d %s", body, a.status, a.body)
		}
	}
}

func bodyWith(name string) []byte {
	b, _ := json.Marshal(map[string]string{"filename": name, "content": "eA=="})
	return b
}

// TestStorageQuota: the plan's storage counts files and site together; a
// declared size that does not fit is 402 before any byte is stored, and
// sizes come from what the store holds, not from the client.
func TestStorageQuota(t *testing.T) {
	tiny := mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Plans = mosaic.DefaultPlans()
		pl := c.Plans["free"]
		pl.StorageBytes = 1000
		c.Plans["free"] = pl
	})
	stores(t, func(t *testing.T, env *mosaictest.Env) {
		ctx := context.Background()
		slug := env.Project(t).Slug
		st := env.Client.Storage(slug)
		quota := func(err error, what string) {
			t.Helper()
			if e := errs.As(err); err == nil || e.Kind != errs.Quota || e.Code != "storage_quota_exceeded" {
				t.Errorf("%s: %v, want storage_quota_exceeded (402)", what, err)
			}
		}
		_, err := st.UploadURL(ctx, client.UploadRequest{Filename: "big.bin", Size: 1001})
		quota(err, "upload URL over the limit")
		a := do(t, env, call{method: "POST", path: "/" + slug + "/storage/upload", body: `{"filename": "big.bin", "size": 5000}`})
		if a.status != 402 || a.json["used_bytes"] != float64(0) || a.json["limit_bytes"] != float64(1000) {
			t.Errorf("402 body: %d %s", a.status, a.body)
		}

		if _, err := st.Upload(ctx, "a.bin", "", make([]byte, 600)); err != nil {
			t.Fatal(err)
		}
		_, err = st.UploadURL(ctx, client.UploadRequest{Filename: "b.bin", Size: 500})
		quota(err, "upload URL past the limit with files")
		_, err = env.Client.PutSiteFile(ctx, slug, "index.html", make([]byte, 500))
		quota(err, "site file past the limit")
		if _, err := env.Client.PutSiteFile(ctx, slug, "index.html", make([]byte, 300)); err != nil {
			t.Fatal(err)
		}
		l, err := st.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if l.Usage.UsedBytes != 900 || l.Usage.FilesBytes != 600 || l.Usage.SiteBytes != 300 || l.Usage.Percent != 90 {
			t.Errorf("usage: %+v", l.Usage)
		}

		// An upload that is never confirmed still counts once a listing sees it.
		u, err := st.UploadURL(ctx, client.UploadRequest{Filename: "sneaky.bin", Size: 100})
		if err != nil {
			t.Fatal(err)
		}
		if code, _, b := httpDo(t, "PUT", u.UploadURL, u.Headers, make([]byte, 100)); code != 200 {
			t.Fatalf("PUT: %d %s", code, b)
		}
		if l, _ := st.List(ctx, ""); l.Usage.UsedBytes != 1000 {
			t.Errorf("usage after an unconfirmed upload and a listing: %+v", l.Usage)
		}
		_, err = st.UploadURL(ctx, client.UploadRequest{Filename: "more.bin"})
		quota(err, "an unsized upload URL when full")

		// An unsized upload larger than the room left: the local store's URL
		// refuses it; on S3 it lands, and confirming it deletes it with a 402.
		if err := st.Delete(ctx, "sneaky.bin"); err != nil {
			t.Fatal(err)
		}
		u, err = st.UploadURL(ctx, client.UploadRequest{Filename: "unsized.bin"})
		if err != nil {
			t.Fatal(err)
		}
		code, _, _ := httpDo(t, "PUT", u.UploadURL, u.Headers, make([]byte, 400))
		if env.S3 == nil {
			if code != 413 {
				t.Errorf("local PUT past the room left: %d, want 413", code)
			}
		} else {
			if code != 200 {
				t.Fatalf("S3 unsized PUT: %d", code)
			}
			_, err = st.Confirm(ctx, "unsized.bin")
			quota(err, "confirm past the limit")
			if _, err := st.DownloadURL(ctx, "unsized.bin"); !errors.Is(err, errs.ErrNotFound) {
				t.Errorf("the file that broke the quota is still there: %v", err)
			}
		}
		if l, _ := st.List(ctx, ""); l.Usage.UsedBytes != 900 {
			t.Errorf("usage at the end: %+v", l.Usage)
		}
	}, tiny)
}

// TestStorageNotConfigured: without a store, every storage route is 503.
func TestStorageNotConfigured(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) { c.Storage, c.StorageDir = nil, "" }))
	slug := env.Project(t).Slug
	for _, c := range []call{
		{method: "GET", path: "/" + slug + "/storage/files"},
		{method: "POST", path: "/" + slug + "/storage/upload", body: `{"filename": "a"}`},
		{method: "GET", path: "/" + slug + "/storage/download/a"},
		{method: "POST", path: "/" + slug + "/files", body: `{"filename": "a.html", "content": ""}`},
	} {
		if a := do(t, env, c); a.status != 503 || a.json["error"] != "storage_not_configured" {
			t.Errorf("%s %s: %d %s", c.method, c.path, a.status, a.body)
		}
	}
}

// TestSiteServing: a site is served by Host header and at /sites/{slug}/,
// with the right types, 304, Range, HEAD, gzip and 404s; on both stores.
// sitesServer serves env's API and, by Host, its projects' sites, as
// mosaic serve does; host is slug's site.
func sitesServer(t *testing.T, env *mosaictest.Env, slug string) (srv *httptest.Server, host string) {
	t.Helper()
	mux := http.NewServeMux()
	env.Handler.Mount(mux)
	srv = httptest.NewServer(env.Handler.Sites(mux))
	t.Cleanup(srv.Close)
	return srv, slug + "." + env.Platform.Domain()
}

func TestSiteServing(t *testing.T) {
	stores(t, func(t *testing.T, env *mosaictest.Env) {
		ctx := context.Background()
		slug := env.Project(t).Slug
		page := "<!doctype html><title>Hi</title>" + strings.Repeat("<p>hello</p>", 100)
		a := do(t, env, call{method: "POST", path: "/" + slug + "/files",
			body: fmt.Sprintf(`{"filename": "index.html", "content": %q, "content_type": "text/html"}`, base64.StdEncoding.EncodeToString([]byte(page)))})
		if a.status != 200 || a.json["uploaded"] != true || a.json["url"] != env.Platform.SiteURL(slug)+"/index.html" {
			t.Fatalf("upload index.html: %d %s", a.status, a.body)
		}
		files := map[string]string{"css/site.css": "body{color:red}", "app.js": "console.log(1)", "data.json": `{"a":1}`,
			"img/logo.png": "\x89PNG\r\n\x1a\nfake", "icon.svg": "<svg/>", "docs/index.html": "<p>docs</p>"}
		for name, body := range files {
			if _, err := env.Client.PutSiteFile(ctx, slug, name, []byte(body)); err != nil {
				t.Fatalf("put %s: %v", name, err)
			}
		}
		srv, host := sitesServer(t, env, slug)
		get := func(p string, h map[string]string) (int, http.Header, []byte) {
			t.Helper()
			if h == nil {
				h = map[string]string{}
			}
			if _, ok := h["Host"]; !ok {
				h["Host"] = strings.ToUpper(host) + ":8080"
			}
			return httpDo(t, "GET", srv.URL+p, h, nil)
		}

		code, h, b := get("/", nil)
		if code != 200 || string(b) != page || h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET /: %d %v %q", code, h, b)
		}
		etag, lastMod := h.Get("ETag"), h.Get("Last-Modified")
		if etag == "" || lastMod == "" {
			t.Fatalf("validators: %v", h)
		}
		types := map[string]string{"/css/site.css": "text/css; charset=utf-8", "/app.js": "text/javascript; charset=utf-8",
			"/data.json": "application/json", "/img/logo.png": "image/png", "/icon.svg": "image/svg+xml", "/index.html": "text/html; charset=utf-8"}
		for p, ct := range types {
			if code, h, b := get(p, nil); code != 200 || h.Get("Content-Type") != ct || (p != "/index.html" && string(b) != files[strings.TrimPrefix(p, "/")]) {
				t.Errorf("GET %s: %d %s %q", p, code, h.Get("Content-Type"), b)
			}
		}
		if code, _, _ := get("/", map[string]string{"If-None-Match": etag}); code != 304 {
			t.Errorf("If-None-Match: %d", code)
		}
		if code, _, _ := get("/", map[string]string{"If-Modified-Since": lastMod}); code != 304 {
			t.Errorf("If-Modified-Since: %d", code)
		}
		if code, h, b := get("/", map[string]string{"Range": "bytes=2-10"}); code != 206 || string(b) != page[2:11] || h.Get("Content-Range") == "" {
			t.Errorf("Range: %d %q", code, b)
		}
		code, h, b = httpDo(t, "HEAD", srv.URL+"/", map[string]string{"Host": host}, nil)
		if code != 200 || len(b) != 0 || h.Get("Content-Length") != fmt.Sprint(len(page)) {
			t.Errorf("HEAD: %d %v", code, h)
		}
		code, h, b = get("/", map[string]string{"Accept-Encoding": "gzip, br"})
		if code != 200 || h.Get("Content-Encoding") != "gzip" {
			t.Fatalf("gzip: %d %v", code, h)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if plain, _ := io.ReadAll(zr); string(plain) != page {
			t.Errorf("gzip body differs")
		}
		if code, _, _ := get("/", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": h.Get("ETag")}); code != 304 {
			t.Errorf("gzip 304: %d", code)
		}
		if code, h, _ := get("/docs", nil); code != 301 || h.Get("Location") != "/docs/" {
			t.Errorf("GET /docs: %d %v", code, h.Get("Location"))
		}
		if code, _, b := get("/docs/", nil); code != 200 || string(b) != "<p>docs</p>" {
			t.Errorf("GET /docs/: %d %q", code, b)
		}

		// 404s: missing files, folders without index.html, dot-files,
		// traversal, unknown projects. The default page, then the site's own.
		for _, p := range []string{"/nope.html", "/css/", "/css", "/.env", "/.git/config", "/%2e%2e/x.html", "/a/..%2f..%2fx.html", "/app.php"} {
			if code, h, b := get(p, nil); code != 404 || h.Get("Content-Type") != "text/html; charset=utf-8" || !bytes.Contains(b, []byte("404")) {
				t.Errorf("GET %s: %d %s", p, code, b)
			}
		}
		if code, _, _ := get("/", map[string]string{"Host": "no-such-project-x1." + env.Platform.Domain()}); code != 404 {
			t.Errorf("unknown project: %d", code)
		}
		if _, err := env.Client.PutSiteFile(ctx, slug, "404.html", []byte("<h1>custom missing</h1>")); err != nil {
			t.Fatal(err)
		}
		if code, _, b := get("/nope.html", nil); code != 404 || string(b) != "<h1>custom missing</h1>" {
			t.Errorf("custom 404: %d %q", code, b)
		}
		if code, h, _ := httpDo(t, "POST", srv.URL+"/", map[string]string{"Host": host}, []byte("x")); code != 405 || h.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST to a site: %d", code)
		}

		// Other hosts are the API's; a reserved name is never a site.
		if code, _, _ := get("/healthz", map[string]string{"Host": "127.0.0.1"}); code != 200 {
			t.Errorf("API through Sites: %d", code)
		}
		if code, _, b := get("/v1/project/", map[string]string{"Host": "api." + env.Platform.Domain()}); code != 200 || !bytes.Contains(b, []byte("endpoints")) {
			t.Errorf("api.{domain}: %d", code)
		}
		if code, _, _ := get("/", map[string]string{"Host": host + ".evil.example"}); code == 200 {
			t.Errorf("a host that only starts with the site's name was served")
		}

		// By path, for local use.
		if code, _, b := get("/sites/"+slug+"/", map[string]string{"Host": "127.0.0.1"}); code != 200 || string(b) != page {
			t.Errorf("GET /sites/%s/: %d", slug, code)
		}
		if code, _, _ := get("/sites/"+slug+"/css/site.css", map[string]string{"Host": "127.0.0.1"}); code != 200 {
			t.Errorf("GET /sites/%s/css/site.css: %d", slug, code)
		}
		if code, h, _ := get("/sites/"+slug, map[string]string{"Host": "127.0.0.1"}); code != 301 || h.Get("Location") != "/sites/"+slug+"/" {
			t.Errorf("GET /sites/%s: %d %s", slug, code, h.Get("Location"))
		}

		// Listing and deleting.
		l, err := env.Client.SiteFiles(ctx, slug, "css/")
		if err != nil || len(l.Files) != 1 || l.Files[0].Path != "css/site.css" || l.Files[0].ContentType != "text/css; charset=utf-8" ||
			l.Files[0].URL != env.Platform.SiteURL(slug)+"/css/site.css" || l.SiteURL != env.Platform.SiteURL(slug) {
			t.Errorf("site listing: %+v %v", l, err)
		}
		if err := env.Client.DeleteSiteFile(ctx, slug, "css/site.css"); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := get("/css/site.css", nil); code != 404 {
			t.Errorf("deleted file served: %d", code)
		}

		// A large file through a presigned upload, then served.
		big := bytes.Repeat([]byte("x = 1;\n"), 1000)
		u, err := env.Client.SiteUploadURL(ctx, slug, "bundle.js", int64(len(big)))
		if err != nil {
			t.Fatal(err)
		}
		if u.Headers["Content-Type"] != "text/javascript; charset=utf-8" {
			t.Errorf("site upload headers: %v", u.Headers)
		}
		if err := env.Client.PutURL(ctx, u, bytes.NewReader(big), int64(len(big))); err != nil {
			t.Fatal(err)
		}
		if code, h, b := get("/bundle.js", nil); code != 200 || !bytes.Equal(b, big) || h.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("presigned site file: %d %s", code, h.Get("Content-Type"))
		}
	})
}

// TestSiteUploadValidation: file types, base64, sizes.
func TestSiteUploadValidation(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithLocalStorage())
	slug := env.Project(t).Slug
	post := func(body string) answer {
		return do(t, env, call{method: "POST", path: "/" + slug + "/files", body: body})
	}
	for body, code := range map[string]string{
		`{"filename": "shell.php", "content": "eA=="}`:                     "unsupported_file_type",
		`{"filename": "README", "content": "eA=="}`:                        "unsupported_file_type",
		`{"filename": ".env.txt", "content": "eA=="}`:                      "invalid_path",
		`{"filename": "a b.html", "content": "eA=="}`:                      "invalid_path",
		`{"filename": "index.html", "content": "not base64!"}`:             "invalid_content",
		`{"filename": "index.html"}`:                                       "invalid_content",
		`{"filename": "index.html", "content": "", "use_presigned": true}`: "invalid_request",
	} {
		a := post(body)
		if a.status != 400 || a.json["error"] != code {
			t.Errorf("%s: %d %s, want 400 %s", body, a.status, a.body, code)
		}
	}
	a := post(`{"filename": "a.wasm", "content": "eA"}`) // unpadded base64 is accepted
	if a.status != 200 || a.json["content_type"] != "application/wasm" {
		t.Errorf("wasm: %d %s", a.status, a.body)
	}
	big := base64.StdEncoding.EncodeToString(make([]byte, mosaic.MaxSiteFileBytes+1))
	if a := post(`{"filename": "big.txt", "content": "` + big + `"}`); a.status != 413 {
		t.Errorf("over 5 MB: %d %.200s", a.status, a.body)
	}
	a = post(`{"filename": "index.html", "use_presigned": true, "size": 10}`)
	if a.status != 200 || a.json["upload_url"] == nil || a.json["method"] != "PUT" || a.json["uploaded"] != false {
		t.Errorf("use_presigned: %d %s", a.status, a.body)
	}
}
