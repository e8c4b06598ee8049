package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/mosaictest"
	"github.com/mosaic-platform/mosaic/storage/s3"
)

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 200, MaxIdleConnsPerHost: 200, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(hc *http.Client, req *http.Request, want int) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	return nil
}

// presignBench is what the upload-URL benchmarks share: a platform, the
// route's request (upload), the bytes it answers (sample), and an empty
// net/http handler that answers those bytes (empty sends it one request).
type presignBench struct {
	env    *mosaictest.Env
	slug   string
	hc     *http.Client
	body   []byte
	upload func() *http.Request
	sample []byte
	empty  func() error
}

func newPresignBench(b *testing.B, opts ...mosaictest.Option) *presignBench {
	env := mosaictest.New(b, opts...)
	pb := &presignBench{env: env, hc: benchClient(),
		body: []byte(`{"filename": "bench/photo.jpg", "content_type": "image/jpeg", "size": 102400}`)}
	pb.slug = env.Project(b).Slug
	pb.upload = func() *http.Request {
		req, _ := http.NewRequest("POST", env.BaseURL+"/"+pb.slug+"/storage/upload", bytes.NewReader(pb.body))
		req.Header.Set("X-API-Key", env.APIKey)
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	resp, err := pb.hc.Do(pb.upload())
	if err != nil {
		b.Fatal(err)
	}
	pb.sample, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("upload URL: %d %s", resp.StatusCode, pb.sample)
	}
	pb.empty = pb.serve(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(pb.sample)
	})
	return pb
}

// serve starts h on a test server and returns a call that sends it the
// route's request body.
func (pb *presignBench) serve(b *testing.B, h http.HandlerFunc) func() error {
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return func() error {
		req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(pb.body))
		req.Header.Set("X-API-Key", pb.env.APIKey)
		req.Header.Set("Content-Type", "application/json")
		return fetch(pb.hc, req, 200)
	}
}

// BenchmarkStoragePresign: POST /{slug}/storage/upload end to end over HTTP
// (API key, project, quota check, presign on MinIO's S3 store, JSON),
// against minio-go's PresignedPutObject alone (in process, no HTTP) and an
// empty net/http handler that answers a JSON body of the same size, at 1
// and 50 concurrent connections; then the two at 50 connections in
// interleaved rounds (paired), the figure the target is about.
func BenchmarkStoragePresign(b *testing.B) {
	pb := newPresignBench(b)
	env, hc, body, upload, emptyReq, slug := pb.env, pb.hc, pb.body, pb.upload, pb.empty, pb.slug
	if env.S3 == nil {
		b.Fatal("no S3 server (MinIO) behind the Env")
	}
	ctx := context.Background()
	st, err := s3.New(s3.Config{Endpoint: env.S3.Endpoint, AccessKey: env.S3.AccessKey, SecretKey: env.S3.SecretKey, URLStyle: s3.StylePath})
	if err != nil {
		b.Fatal(err)
	}
	mc := st.Client()

	// The handler alone, in process (no sockets): what the platform adds.
	b.Run("inprocess/mosaic_handler", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest("POST", "/"+slug+"/storage/upload", bytes.NewReader(body))
			req.Header.Set("X-API-Key", env.APIKey)
			rec := httptest.NewRecorder()
			env.Handler.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
	b.Run("inprocess/raw_minio_presign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := mc.PresignedPutObject(ctx, "mosaic", "projects/x/files/bench/photo.jpg", time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, conc := range []int{1, 50} {
		b.Run(fmt.Sprintf("c=%d/mosaic_upload_url", conc), func(b *testing.B) {
			load(b, conc, func() error { return fetch(hc, upload(), 200) })
		})
		b.Run(fmt.Sprintf("c=%d/raw_minio_presign", conc), func(b *testing.B) {
			load(b, conc, func() error {
				_, err := mc.PresignedPutObject(ctx, "mosaic", "projects/x/files/bench/photo.jpg", time.Hour)
				return err
			})
		})
		b.Run(fmt.Sprintf("c=%d/empty_nethttp", conc), func(b *testing.B) {
			load(b, conc, emptyReq)
		})
	}
	// The target's figure: 40 interleaved rounds of 4,000 calls each way.
	b.Run("c=50/paired_vs_empty", func(b *testing.B) {
		paired(b, 50, 40, 4000, func() error { return fetch(hc, upload(), 200) }, emptyReq)
	})
}

// BenchmarkStoragePresignLocal: the same route on the embedded default,
// the local store (HMAC-signed URLs the platform serves itself), against
// the same empty handler in interleaved rounds at 50 connections.
func BenchmarkStoragePresignLocal(b *testing.B) {
	pb := newPresignBench(b, mosaictest.WithLocalStorage())
	b.Run("c=50/paired_vs_empty", func(b *testing.B) {
		paired(b, 50, 40, 4000, func() error { return fetch(pb.hc, pb.upload(), 200) }, pb.empty)
	})
}

// BenchmarkSiteServe: GETs of a project's site files (local store, by Host
// header) against http.FileServer over the same files in a directory, at 1
// and 50 concurrent connections. No compression on either side; a last
// run shows ours with gzip, and then the two at 50 connections in
// interleaved rounds (paired).
func BenchmarkSiteServe(b *testing.B) {
	env := mosaictest.New(b, mosaictest.WithLocalStorage())
	ctx := context.Background()
	slug := env.Project(b).Slug
	dir := b.TempDir()
	random := make([]byte, 16<<10)
	rand.Read(random)
	files := map[string][]byte{
		"index.html":   []byte("<!doctype html><title>bench</title>" + strings.Repeat("<p>hello, static world</p>\n", 150)),
		"js/app.js":    []byte(strings.Repeat("function f(x) { return x * 2; }\n", 1000)),
		"img/logo.png": random,
	}
	var names []string
	for name, data := range files {
		if _, err := env.Platform.PutSiteFile(ctx, env.Account.ID, slug, name, data); err != nil {
			b.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
		names = append(names, "/"+strings.TrimSuffix(name, "index.html")) // "/": http.FileServer redirects /index.html there
	}
	host := slug + "." + env.Platform.Domain()
	ours := httptest.NewServer(env.Handler.Sites(http.NotFoundHandler()))
	defer ours.Close()
	theirs := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer theirs.Close()
	hc := benchClient()
	var n atomic.Uint64
	get := func(base string, gzip bool) func() error {
		return func() error {
			req, _ := http.NewRequest("GET", base+names[n.Add(1)%uint64(len(names))], nil)
			req.Host = host
			if gzip {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			return fetch(hc, req, 200)
		}
	}
	// The handlers alone, in process (no sockets).
	for name, h := range map[string]http.Handler{"mosaic_site": env.Handler.Sites(http.NotFoundHandler()), "http_fileserver": http.FileServer(http.Dir(dir))} {
		b.Run("inprocess/"+name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				req := httptest.NewRequest("GET", names[i%len(names)], nil)
				req.Host = host
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%d", rec.Code)
				}
			}
		})
	}
	for _, conc := range []int{1, 50} {
		b.Run(fmt.Sprintf("c=%d/mosaic_site", conc), func(b *testing.B) { load(b, conc, get(ours.URL, false)) })
		b.Run(fmt.Sprintf("c=%d/http_fileserver", conc), func(b *testing.B) { load(b, conc, get(theirs.URL, false)) })
	}
	b.Run("c=50/mosaic_site_gzip", func(b *testing.B) { load(b, 50, get(ours.URL, true)) })
	// The target's figure: 40 interleaved rounds of 4,000 GETs each way.
	b.Run("c=50/paired_vs_fileserver", func(b *testing.B) { paired(b, 50, 40, 4000, get(ours.URL, false), get(theirs.URL, false)) })
}
