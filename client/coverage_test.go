package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/httpapi"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// recordingTransport records the method and URL of every request a client
// sends, then passes it on.
type recordingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []sentRequest
}

type sentRequest struct {
	method string
	url    *url.URL
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	u := *r.URL
	rt.mu.Lock()
	rt.reqs = append(rt.reqs, sentRequest{method: r.Method, url: &u})
	rt.mu.Unlock()
	return rt.next.RoundTrip(r)
}

// since returns the requests recorded after the first n.
func (rt *recordingTransport) since(n int) []sentRequest {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.reqs[n:])
}

func (rt *recordingTransport) count() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.reqs)
}

// routeMatcher maps a request path (relative to the API prefix) to the
// route that serves it, with the server's own matching: the route table is
// registered on two http.ServeMux split by first segment exactly as
// httpapi.Handler does, so "{slug}" and "{id}" match one segment and
// "{path...}" the rest of the path, with the same precedence.
type routeMatcher struct {
	accounts         map[string]bool
	account, project *http.ServeMux
	byPattern        map[string]string // mux pattern → "METHOD /path"
}

func newRouteMatcher(routes []httpapi.Route) *routeMatcher {
	m := &routeMatcher{accounts: map[string]bool{"": true}, account: http.NewServeMux(), project: http.NewServeMux(), byPattern: map[string]string{}}
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, rt := range routes {
		first := firstSegment(rt.Path)
		mux := m.project
		if !strings.HasPrefix(first, "{") {
			m.accounts[first] = true
			mux = m.account
		}
		p := rt.Path
		if p == "/" {
			p = "/{$}"
		}
		pattern := rt.Method + " " + p
		mux.Handle(pattern, nop)
		m.byPattern[pattern] = routeKey(rt.Method, rt.Path)
	}
	return m
}

// match returns the route key of a request to escapedPath (relative to the
// prefix), or "" when no route serves it.
func (m *routeMatcher) match(method, escapedPath string) string {
	unescaped, err := url.PathUnescape(escapedPath)
	if err != nil {
		return ""
	}
	r := &http.Request{Method: method, Host: "api", URL: &url.URL{Path: unescaped, RawPath: escapedPath}}
	mux := m.project
	if m.accounts[firstSegment(unescaped)] {
		mux = m.account
	}
	_, pattern := mux.Handler(r)
	return m.byPattern[pattern]
}

func firstSegment(path string) string {
	s := strings.TrimPrefix(path, "/")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

func routeKey(method, path string) string { return method + " " + path }

// noClientMethod lists the routes the client deliberately has no method for
// (a table entry may then reach them with a plain request, plain: true,
// sent through &http.Client{Transport: rec} so that it is recorded), each
// with the reason. Keep it empty unless a route is truly browser-only:
// today even the redirect routes a browser follows (GET auth/verify, GET
// auth/reset-password/confirm) have Auth.Verify and Auth.CheckReset.
var noClientMethod = map[string]string{}

// TestClientCoversEveryRoute checks issue #8's "the client covers every
// route": every route of the table the server mounts is reached by a client
// method, no client method calls a path or method the server does not have,
// and every error comes back as the platform's *errs.Error.
func TestClientCoversEveryRoute(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rec := &recordingTransport{next: http.DefaultTransport}
	c := client.New(env.BaseURL, env.APIKey, client.WithHTTPClient(&http.Client{Transport: rec, Timeout: time.Minute}), client.WithRetries(0))
	api, err := url.Parse(env.BaseURL)
	if err != nil {
		t.Fatal(err)
	}
	prefix := env.Handler.Prefix()
	routes := env.Handler.Routes()
	matcher := newRouteMatcher(routes)

	// The project the calls use is made through the client (POST
	// /projects) and deleted through it (DELETE /{slug}) by the last call.
	created, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "Coverage", Plan: "pro"})
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	slug := created.Slug
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := env.Platform.DeleteProject(ctx, env.Account.ID, slug); err != nil && !errors.Is(err, mosaic.ErrNotFound) {
			t.Errorf("delete project %s: %v", slug, err)
		}
	})

	// Values earlier calls produce for later ones; the fallbacks are
	// well-formed ids that name nothing, so the call still reaches its route.
	var (
		userID    = uuid.New()
		webhookID = uuid.NewString()
		ticketID  = int64(1)
		email     = "coverage@example.com"
	)
	au, kv, st := c.Auth(slug), c.KV(slug), c.Storage(slug)
	discard := func(_ any, err error) error { return err }

	table := []struct {
		route string // "METHOD /path" as in Routes()
		plain bool   // a plain request, for a route in noClientMethod
		call  func(ctx context.Context) error
	}{
		// Account and projects.
		{route: "GET /", call: func(ctx context.Context) error { return discard(c.Discover(ctx)) }},
		{route: "GET /openapi.json", call: func(ctx context.Context) error { return discard(c.OpenAPI(ctx)) }},
		{route: "GET /whoami", call: func(ctx context.Context) error { return discard(c.Whoami(ctx)) }},
		{route: "GET /projects", call: func(ctx context.Context) error { return discard(c.ListProjects(ctx)) }},
		{route: "POST /projects", call: func(ctx context.Context) error {
			// A bad slug: the route answers 400 without making a project.
			return discard(c.CreateProject(ctx, client.CreateProjectRequest{Name: "x", Slug: "Not A Slug"}))
		}},
		{route: "GET /{slug}/info", call: func(ctx context.Context) error { return discard(c.ProjectInfo(ctx, slug)) }},
		{route: "GET /{slug}/credentials", call: func(ctx context.Context) error { return discard(c.Credentials(ctx, slug)) }},
		{route: "GET /{slug}/setup", call: func(ctx context.Context) error { return discard(c.Setup(ctx, slug)) }},
		{route: "POST /tickets", call: func(ctx context.Context) error {
			tk, err := c.CreateTicket(ctx, client.CreateTicketRequest{Subject: "Coverage", Message: "Does the client reach every route?", ProjectID: slug})
			if err == nil {
				ticketID = tk.ID
			}
			return err
		}},
		{route: "GET /tickets", call: func(ctx context.Context) error { return discard(c.ListTickets(ctx)) }},
		{route: "GET /tickets/{id}", call: func(ctx context.Context) error { return discard(c.Ticket(ctx, ticketID)) }},

		// SQL.
		{route: "POST /{slug}/sql", call: func(ctx context.Context) error { return discard(c.SQL(ctx, slug, "SELECT $1::int AS n", 1)) }},
		{route: "GET /{slug}/database/usage", call: func(ctx context.Context) error { return discard(c.DatabaseUsage(ctx, slug)) }},

		// Key-value store (the pro plan includes it).
		{route: "POST /{slug}/redis/set", call: func(ctx context.Context) error { return kv.Set(ctx, "k", "v", 60) }},
		{route: "POST /{slug}/redis/get", call: func(ctx context.Context) error { _, _, err := kv.Get(ctx, "k"); return err }},
		{route: "POST /{slug}/redis/mset", call: func(ctx context.Context) error { return kv.MSet(ctx, map[string]string{"a": "1", "b": "2"}, 60) }},
		{route: "POST /{slug}/redis/mget", call: func(ctx context.Context) error { return discard(kv.MGet(ctx, "a", "b")) }},
		{route: "POST /{slug}/redis/expire", call: func(ctx context.Context) error { return discard(kv.Expire(ctx, "a", 120)) }},
		{route: "POST /{slug}/redis/ttl", call: func(ctx context.Context) error { return discard(kv.TTL(ctx, "a")) }},
		{route: "POST /{slug}/redis/incr", call: func(ctx context.Context) error { return discard(kv.Incr(ctx, "n", 2, 60)) }},
		{route: "POST /{slug}/redis/decr", call: func(ctx context.Context) error { return discard(kv.Decr(ctx, "n", 1, 60)) }},
		{route: "POST /{slug}/redis/lpush", call: func(ctx context.Context) error { return discard(kv.LPush(ctx, "l", []string{"x"}, 60)) }},
		{route: "POST /{slug}/redis/rpush", call: func(ctx context.Context) error { return discard(kv.RPush(ctx, "l", []string{"y", "z"}, 60)) }},
		{route: "POST /{slug}/redis/lpop", call: func(ctx context.Context) error { _, _, err := kv.LPop(ctx, "l"); return err }},
		{route: "POST /{slug}/redis/rpop", call: func(ctx context.Context) error { _, _, err := kv.RPop(ctx, "l"); return err }},
		{route: "POST /{slug}/redis/lrange", call: func(ctx context.Context) error { return discard(kv.LRange(ctx, "l", 0, -1)) }},
		{route: "POST /{slug}/redis/publish", call: func(ctx context.Context) error { return discard(kv.Publish(ctx, "news", "hello")) }},
		{route: "POST /{slug}/redis/keys", call: func(ctx context.Context) error { return discard(kv.Keys(ctx, "*", 10)) }},
		{route: "GET /{slug}/redis/usage", call: func(ctx context.Context) error { return discard(kv.Usage(ctx)) }},
		{route: "POST /{slug}/redis/delete", call: func(ctx context.Context) error { return discard(kv.Delete(ctx, "k", "a")) }},
		{route: "POST /{slug}/redis/flush", call: func(ctx context.Context) error { return discard(kv.Flush(ctx)) }},

		// File storage. The bytes go to the presigned URL, which is not an
		// API route (the recorder skips it), so the later calls find the file.
		{route: "POST /{slug}/storage/upload", call: func(ctx context.Context) error {
			u, err := st.UploadURL(ctx, client.UploadRequest{Filename: "docs/a.txt", ContentType: "text/plain", Size: 5})
			if err != nil {
				return err
			}
			return c.PutURL(ctx, u, strings.NewReader("hello"), 5)
		}},
		{route: "POST /{slug}/storage/confirm", call: func(ctx context.Context) error { return discard(st.Confirm(ctx, "docs/a.txt")) }},
		{route: "GET /{slug}/storage/files", call: func(ctx context.Context) error { return discard(st.List(ctx, "docs/")) }},
		{route: "GET /{slug}/storage/download/{path...}", call: func(ctx context.Context) error { return discard(st.DownloadURL(ctx, "docs/a.txt")) }},
		{route: "GET /{slug}/storage/files/{path...}", call: func(ctx context.Context) error { return discard(st.FileURL(ctx, "docs/a.txt")) }},
		{route: "DELETE /{slug}/storage/files/{path...}", call: func(ctx context.Context) error { return st.Delete(ctx, "docs/a.txt") }},

		// Static site files.
		{route: "POST /{slug}/files", call: func(ctx context.Context) error {
			return discard(c.PutSiteFile(ctx, slug, "css/site.css", []byte("body{}")))
		}},
		{route: "GET /{slug}/files", call: func(ctx context.Context) error { return discard(c.SiteFiles(ctx, slug, "")) }},
		{route: "DELETE /{slug}/files/{path...}", call: func(ctx context.Context) error { return c.DeleteSiteFile(ctx, slug, "css/site.css") }},

		// Deployment, before any commit: no build starts. The branch has
		// no commit, so POST /deploy answers 400 nothing_to_deploy.
		{route: "POST /{slug}/deploy", call: func(ctx context.Context) error { return discard(c.Deploy(ctx, slug, "no-such-branch")) }},
		{route: "GET /{slug}/deploy/status", call: func(ctx context.Context) error { return discard(c.DeployStatus(ctx, slug)) }},
		{route: "GET /{slug}/deploy/history", call: func(ctx context.Context) error { return discard(c.DeployHistory(ctx, slug, 5)) }},
		{route: "GET /{slug}/deploy/logs", call: func(ctx context.Context) error { return discard(c.DeployLogs(ctx, slug)) }},
		{route: "POST /{slug}/restart", call: func(ctx context.Context) error { return discard(c.RestartApp(ctx, slug)) }},
		{route: "POST /{slug}/stop", call: func(ctx context.Context) error { return discard(c.StopApp(ctx, slug)) }},
		{route: "POST /{slug}/start", call: func(ctx context.Context) error { return discard(c.StartApp(ctx, slug)) }},
		{route: "DELETE /{slug}/deploy", call: func(ctx context.Context) error { return c.DestroyDeployment(ctx, slug) }},

		// Git and settings: auto-deploy off first, so the commit starts no build.
		{route: "PATCH /{slug}/settings", call: func(ctx context.Context) error { return discard(c.SetAutoDeploy(ctx, slug, false)) }},
		{route: "GET /{slug}/settings", call: func(ctx context.Context) error { return discard(c.Settings(ctx, slug)) }},
		{route: "POST /{slug}/git/files", call: func(ctx context.Context) error {
			return discard(c.PutFile(ctx, slug, client.PutFileRequest{Path: "README.md", Content: []byte("# Coverage\n"), Message: "Add README"}))
		}},

		// Webhooks (a loopback receiver that is never called).
		{route: "POST /{slug}/webhooks", call: func(ctx context.Context) error {
			h, err := c.CreateWebhook(ctx, slug, "http://127.0.0.1:9/hook", "push")
			if err == nil {
				webhookID = h.ID
			}
			return err
		}},
		{route: "GET /{slug}/webhooks", call: func(ctx context.Context) error { return discard(c.Webhooks(ctx, slug)) }},
		{route: "DELETE /{slug}/webhooks/{id}", call: func(ctx context.Context) error { return c.DeleteWebhook(ctx, slug, webhookID) }},

		// End-user auth.
		{route: "POST /{slug}/auth/init", call: func(ctx context.Context) error { return discard(au.Init(ctx)) }},
		{route: "POST /{slug}/auth/signup", call: func(ctx context.Context) error {
			u, err := au.Signup(ctx, client.SignupRequest{Email: email, Password: "correct horse", Name: "Cov"})
			if err == nil && u != nil {
				userID = u.ID
			}
			return err
		}},
		{route: "POST /{slug}/auth/login", call: func(ctx context.Context) error { return discard(au.Login(ctx, email, "correct horse")) }},
		{route: "POST /{slug}/auth/change-password", call: func(ctx context.Context) error {
			return discard(au.ChangePassword(ctx, userID, "correct horse", "battery staple"))
		}},
		{route: "POST /{slug}/auth/set-password", call: func(ctx context.Context) error { return discard(au.SetPassword(ctx, userID, "correct horse")) }},
		{route: "POST /{slug}/auth/reset-password", call: func(ctx context.Context) error { return discard(au.ResetPassword(ctx, email, "")) }},
		{route: "GET /{slug}/auth/reset-password/confirm", call: func(ctx context.Context) error { return discard(au.CheckReset(ctx, "not-a-token", "")) }},
		{route: "POST /{slug}/auth/reset-password/confirm", call: func(ctx context.Context) error {
			return discard(au.ConfirmReset(ctx, "not-a-token", "battery staple"))
		}},
		{route: "POST /{slug}/auth/send-magic-link", call: func(ctx context.Context) error { return discard(au.SendMagicLink(ctx, email, "", "")) }},
		{route: "GET /{slug}/auth/verify", call: func(ctx context.Context) error { return discard(au.Verify(ctx, "not-a-token", "")) }},
		{route: "POST /{slug}/auth/exchange", call: func(ctx context.Context) error { return discard(au.ExchangeCode(ctx, "not-a-code")) }},
		{route: "GET /{slug}/auth/users", call: func(ctx context.Context) error {
			return discard(au.Users(ctx, client.ListUsersOptions{Limit: 10, VerifiedOnly: true}))
		}},
		{route: "GET /{slug}/auth/users/{id}", call: func(ctx context.Context) error { return discard(au.User(ctx, userID)) }},
		{route: "PATCH /{slug}/auth/users/{id}", call: func(ctx context.Context) error {
			name := "Coverage"
			return discard(au.UpdateUser(ctx, userID, client.UserPatch{Name: &name}))
		}},
		{route: "DELETE /{slug}/auth/users/{id}", call: func(ctx context.Context) error { return au.DeleteUser(ctx, userID) }},

		// Last: the key rotation (the old key keeps working for a grace
		// period) and the project's deletion.
		{route: "POST /keys/rotate", call: func(ctx context.Context) error { return discard(c.RotateKey(ctx)) }},
		{route: "DELETE /{slug}", call: func(ctx context.Context) error { return c.DeleteProject(ctx, slug) }},
	}

	known := map[string]bool{}
	for _, rt := range routes {
		known[routeKey(rt.Method, rt.Path)] = true
	}
	reached := map[string]bool{}
	// The project creation above was a client call too.
	if k := matcher.match(http.MethodPost, "/projects"); k != "" {
		reached[k] = true
	}
	for _, tc := range table {
		if !known[tc.route] {
			t.Errorf("table entry %q: the server has no such route (stale entry?)", tc.route)
		}
		if _, ok := noClientMethod[tc.route]; tc.plain && !ok {
			t.Errorf("table entry %q uses a plain request but is not in noClientMethod", tc.route)
		}
		n := rec.count()
		err := tc.call(ctx)
		if err != nil {
			var e *errs.Error
			switch {
			case !errors.As(err, &e):
				t.Errorf("%s: the error is %T, not the platform's *errs.Error: %v", tc.route, err, err)
			case e.Code == "route_not_found" || e.Code == "method_not_allowed":
				t.Errorf("%s: the client called a path the server does not have: %v", tc.route, err)
			default:
				t.Logf("%s: %v (an error from the route is fine here)", tc.route, err)
			}
		}
		var got []string
		for _, r := range rec.since(n) {
			if r.url.Host != api.Host {
				continue // a presigned URL or another server: not an API route
			}
			p := r.url.EscapedPath()
			if prefix != "" {
				if p != prefix && !strings.HasPrefix(p, prefix+"/") {
					continue // /s3/, /git/, sites: outside the API
				}
				p = strings.TrimPrefix(p, prefix)
				if p == "" {
					p = "/"
				}
			}
			k := matcher.match(r.method, p)
			if k == "" {
				t.Errorf("%s: the client sent %s %s, which matches no route", tc.route, r.method, r.url.EscapedPath())
				continue
			}
			reached[k] = true
			got = append(got, k)
		}
		if !slices.Contains(got, tc.route) {
			t.Errorf("table entry %q: the call reached %v, not its route", tc.route, got)
		}
	}

	var missing []string
	for _, rt := range routes {
		if k := routeKey(rt.Method, rt.Path); !reached[k] {
			reason := "no client call reached it"
			if why, ok := noClientMethod[k]; ok {
				reason = fmt.Sprintf("not reached by a plain request either (no client method: %s)", why)
			}
			missing = append(missing, k+": "+reason)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d routes are not covered by the client:\n\t%s", len(missing), len(routes), strings.Join(missing, "\n\t"))
	}
	for k := range noClientMethod {
		if !known[k] {
			t.Errorf("noClientMethod lists %q, which the server does not have", k)
		}
	}
}
