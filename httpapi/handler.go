package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
)

// DefaultPrefix is where Mount puts the API.
const DefaultPrefix = "/v1/project"

// Options configure a Handler. The zero value is ready to use.
type Options struct {
	// Prefix is where Mount puts the routes (default DefaultPrefix). It
	// only affects Mount and the URLs the API shows; ServeHTTP serves paths
	// relative to the prefix.
	Prefix string
	// MaxBodyBytes bounds every request body (default 1 MiB).
	MaxBodyBytes int64
	// Logger receives access logs and internal errors (default: discard).
	Logger *slog.Logger
	// CORSDomain is the domain whose subdomains may call the API from a
	// browser (default: the platform's domain).
	CORSDomain string
}

// Handler serves the REST API. Build it with New.
type Handler struct {
	p        *mosaic.Platform
	opts     Options
	log      *slog.Logger
	routes   []Route
	account  *http.ServeMux
	project  *http.ServeMux
	accounts map[string]bool // first path segments that go to the account mux
	cors     corsPolicy
}

// Route is one documented route.
type Route struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	Description string `json:"description"`
	// Auth reports whether the route needs an X-API-Key.
	Auth bool `json:"auth"`
	// MaxBody overrides Options.MaxBodyBytes for this route (0: the default).
	MaxBody int64 `json:"-"`
	// In and Out document the request and response bodies in the OpenAPI
	// document (GET /openapi.json, see openapi.go): a zero value of the Go
	// type the handler decodes or writes as JSON (SQLRequest{}), a RawBody
	// for a body that is not JSON, OptionalBody(v) for a request body that
	// may be empty; nil for none.
	In  any `json:"-"`
	Out any `json:"-"`
	// Status is the status of a successful answer (default 200).
	Status int `json:"-"`

	handle func(w http.ResponseWriter, r *http.Request) error
}

// New builds a Handler for p.
func New(p *mosaic.Platform, o Options) *Handler {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	o.Prefix = "/" + strings.Trim(o.Prefix, "/")
	if o.Prefix == "/" {
		o.Prefix = ""
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CORSDomain == "" {
		o.CORSDomain = p.Domain()
	}
	h := &Handler{p: p, opts: o, log: o.Logger}
	h.cors = corsPolicy{domain: strings.ToLower(o.CORSDomain), allowHTTP: strings.HasPrefix(p.PublicURL(), "http:")}
	h.routes = h.routeTable()
	h.build()
	return h
}

// Routes returns the route table: every route the handler serves.
func (h *Handler) Routes() []Route { return append([]Route(nil), h.routes...) }

// Prefix returns the prefix Mount uses.
func (h *Handler) Prefix() string { return h.opts.Prefix }

// Mount registers the API under the handler's prefix on mux, GET /healthz,
// the git smart-HTTP endpoints under /git/ (the platform's git_repo_url),
// the local store's presigned URLs under /s3/ and project sites by path
// under /sites/{slug}/ (wrap the server's handler with Sites to serve them
// at {slug}.{domain} too).
func (h *Handler) Mount(mux *http.ServeMux) {
	if h.opts.Prefix == "" {
		mux.Handle("/", h)
	} else {
		mux.HandleFunc(h.opts.Prefix+"/", h.prefixed)
		mux.HandleFunc(h.opts.Prefix, h.prefixed)
	}
	mux.Handle("GET /healthz", h.Health())
	mux.Handle("/git/", http.StripPrefix("/git", h.p.GitHandler()))
	mux.Handle(mosaic.StoragePath+"/", http.StripPrefix(mosaic.StoragePath, h.p.StorageHandler()))
	mux.Handle(SitesPath, h.sitesByPath())
}

// Health answers GET /healthz: 200 {"status":"ok"} when the control database
// answers, else 503.
func (h *Handler) Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := h.p.Ping(ctx); err != nil {
			h.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// build registers the route table on the two muxes. For every path it also
// registers a method-less pattern that answers 405 with an Allow header, and
// each mux has a catch-all that answers a JSON 404.
func (h *Handler) build() {
	h.account, h.project = http.NewServeMux(), http.NewServeMux()
	h.accounts = map[string]bool{"": true}
	allow := map[string][]string{}
	var order []string
	for _, rt := range h.routes {
		mux := h.muxFor(rt.Path)
		if first := firstSegment(rt.Path); !strings.HasPrefix(first, "{") {
			h.accounts[first] = true
		}
		pattern := rt.Path
		if pattern == "/" {
			pattern = "/{$}"
		}
		mux.Handle(rt.Method+" "+pattern, h.wrap(rt))
		if _, ok := allow[pattern]; !ok {
			order = append(order, pattern)
		}
		allow[pattern] = append(allow[pattern], rt.Method)
	}
	for _, pattern := range order {
		methods := allow[pattern]
		for _, m := range methods {
			if m == http.MethodGet {
				methods = append(methods, http.MethodHead)
				break
			}
		}
		allowed := strings.Join(append(methods, http.MethodOptions), ", ")
		h.muxFor(pattern).HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowed)
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			writeJSON(w, http.StatusMethodNotAllowed, ErrorBody{
				Detail: "method " + r.Method + " is not allowed here; allowed: " + allowed,
				Error:  "method_not_allowed",
			})
		})
	}
	notFound := func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, errs.New(errs.NotFound, "route_not_found", "no route %s %s; GET %s/ lists the routes", r.Method, r.URL.Path, h.opts.Prefix))
	}
	h.account.HandleFunc("/", notFound)
	h.project.HandleFunc("/", notFound)
}

func (h *Handler) muxFor(path string) *http.ServeMux {
	if strings.HasPrefix(firstSegment(path), "{") {
		return h.project
	}
	return h.account
}

func firstSegment(path string) string {
	s := strings.TrimPrefix(path, "/")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

// ServeHTTP serves a request whose path is relative to the prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, false, "", "")
}

// prefixed serves the API under the prefix, as Mount mounts it: what
// http.StripPrefix does, in the one request copy serve makes anyway.
func (h *Handler) prefixed(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, h.opts.Prefix)
	raw, okRaw := strings.CutPrefix(r.URL.RawPath, h.opts.Prefix)
	if !ok || (r.URL.RawPath != "" && !okRaw) { // as StripPrefix: the escaped path must have the prefix too
		h.writeError(w, r, errs.New(errs.NotFound, "route_not_found", "no route %s %s; GET %s/ lists the routes", r.Method, r.URL.Path, h.opts.Prefix))
		return
	}
	if path == "" {
		path = "/"
	}
	if r.URL.RawPath == "" {
		raw = ""
	}
	h.serve(w, r, true, path, raw)
}

// serve serves r; when strip is set, with path (and raw, its escaped form
// when the URL has one) as its path relative to the prefix.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, strip bool, path, raw string) {
	start := time.Now()
	rid := r.Header.Get("X-Request-Id") // canonical spelling: Get need not allocate one
	if !validRequestID(rid) {
		rid = newRequestID()
	}
	// One allocation per request holds its id, its principal once
	// authenticated (a context value) and the status recorder, and one
	// request copy carries the context and the stripped path.
	info := &requestInfo{id: rid}
	info.rec.ResponseWriter = w
	rec := &info.rec
	ctx := context.WithValue(r.Context(), ctxRequestInfo{}, info)
	r = r.WithContext(ctx)
	if strip {
		u := *r.URL
		u.Path, u.RawPath = path, raw
		r.URL = &u
	}
	w.Header()["X-Request-Id"] = []string{rid}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.ErrorContext(ctx, "panic serving request", "request_id", rid, "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if !rec.wrote {
				h.writeError(rec, r, errs.Internalf(errors.New("panic"), "serve %s %s", r.Method, r.URL.Path))
			}
		}
		// Enabled first: the access log's attributes cost allocations
		// even when a handler discards them.
		if h.log.Enabled(ctx, slog.LevelInfo) {
			h.log.LogAttrs(ctx, slog.LevelInfo, "http request", slog.String("request_id", rid), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", rec.status()), slog.Int64("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.String("remote", r.RemoteAddr))
		}
	}()

	if h.cors.apply(rec, r) {
		return // preflight answered
	}
	if r.URL.Path == "" {
		r.URL.Path = "/"
	}
	if h.accounts[firstSegment(r.URL.Path)] {
		h.account.ServeHTTP(rec, r)
	} else {
		h.project.ServeHTTP(rec, r)
	}
}

// wrap turns a route into an http.Handler: authentication when the route
// needs it, then the route's function, whose error becomes the JSON answer.
func (h *Handler) wrap(rt Route) http.Handler {
	limit := h.opts.MaxBodyBytes
	if rt.MaxBody > 0 {
		limit = rt.MaxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if rt.Auth {
			pr, err := h.authenticate(r)
			if err != nil {
				h.writeError(w, r, err)
				return
			}
			// ServeHTTP, the only way to a route, made the request's info.
			r.Context().Value(ctxRequestInfo{}).(*requestInfo).principal = pr
		}
		if err := rt.handle(w, r); err != nil {
			h.writeError(w, r, err)
		}
	})
}

func (h *Handler) authenticate(r *http.Request) (*mosaic.Principal, error) {
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		if q.Has("api_key") || q.Has("key") || q.Has("apikey") {
			return nil, errs.New(errs.Unauthorized, "api_key_in_query", "send the API key in the X-API-Key header, never in the URL")
		}
	}
	key := r.Header.Get("X-Api-Key") // X-API-Key, canonically spelt: Get need not allocate it
	if key == "" {
		if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			key = strings.TrimSpace(a[7:])
		}
	}
	if key == "" {
		return nil, errs.New(errs.Unauthorized, "missing_api_key", "this route needs an API key in the X-API-Key header")
	}
	return h.p.Authenticate(r.Context(), key)
}

type ctxRequestInfo struct{}

// requestInfo is what the API layer knows of a request it serves.
type requestInfo struct {
	id        string
	principal *mosaic.Principal // nil until authenticated
	rec       statusRecorder
}

func principal(r *http.Request) *mosaic.Principal {
	if info, ok := r.Context().Value(ctxRequestInfo{}).(*requestInfo); ok {
		return info.principal
	}
	return nil
}

func requestID(ctx context.Context) string {
	if info, ok := ctx.Value(ctxRequestInfo{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status and size of a response for the access log.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
	wrote bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.code, s.wrote = http.StatusOK, true
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) status() int {
	if !s.wrote {
		return http.StatusOK
	}
	return s.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
