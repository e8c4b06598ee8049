package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/httpapi"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func TestMain(m *testing.M) { mosaictest.Main(m) }

type call struct {
	method, path, body string
	key                string // "" = the env's key; "-" = none
	header             map[string]string
}

type answer struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func do(t *testing.T, env *mosaictest.Env, c call) answer {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, env.BaseURL+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	switch c.key {
	case "":
		req.Header.Set("X-API-Key", env.APIKey)
	case "-":
	default:
		req.Header.Set("X-API-Key", c.key)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	_ = json.Unmarshal(b, &a.json)
	return a
}

// TestBadInput: every user mistake is a 4xx with {"detail", "error"}, never a 5xx.
func TestBadInput(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	cp := env.Project(t)
	_, _, otherClient := env.NewAccount(t)
	otherProject, err := otherClient.CreateProject(context.Background(), client.CreateProjectRequest{Name: "theirs"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { otherClient.DeleteProject(context.Background(), otherProject.Slug) })
	revoked, meta, err := env.Platform.CreateAPIKey(context.Background(), env.Account.ID, "revoked", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Platform.RevokeAPIKey(context.Background(), meta.ID.String()); err != nil {
		t.Fatal(err)
	}
	expired, _, err := env.Platform.CreateAPIKey(context.Background(), env.Account.ID, "expired", time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		call   call
		status int
		code   string
	}{
		{"malformed JSON", call{method: "POST", path: "/projects", body: `{"name": `}, 400, "invalid_json"},
		{"not an object", call{method: "POST", path: "/projects", body: `["x"]`}, 400, "invalid_json"},
		{"trailing data", call{method: "POST", path: "/projects", body: `{"name":"a"} {"name":"b"}`}, 400, "invalid_json"},
		{"empty body", call{method: "POST", path: "/projects"}, 400, "invalid_json"},
		{"name is a number", call{method: "POST", path: "/projects", body: `{"name": 42}`}, 400, "invalid_type"},
		{"slug is an object", call{method: "POST", path: "/projects", body: `{"name": "a", "slug": {}}`}, 400, "invalid_type"},
		{"missing name", call{method: "POST", path: "/projects", body: `{}`}, 400, "invalid_name"},
		{"slug too short", call{method: "POST", path: "/projects", body: `{"name":"a","slug":"ab"}`}, 400, "invalid_slug"},
		{"slug too long", call{method: "POST", path: "/projects", body: `{"name":"a","slug":"` + strings.Repeat("a", 33) + `"}`}, 400, "invalid_slug"},
		{"slug uppercase", call{method: "POST", path: "/projects", body: `{"name":"a","slug":"MyApp"}`}, 400, "invalid_slug"},
		{"slug underscore", call{method: "POST", path: "/projects", body: `{"name":"a","slug":"my_app"}`}, 400, "invalid_slug"},
		{"slug leading hyphen", call{method: "POST", path: "/projects", body: `{"name":"a","slug":"-app"}`}, 400, "invalid_slug"},
		{"slug trailing hyphen", call{method: "POST", path: "/projects", body: `{"name":"a","slug":"app-"}`}, 400, "invalid_slug"},
		{"slug double hyphen", call{method: "POST", path: "/projects", body: `{"name":"a","slug":"my--app"}`}, 400, "invalid_slug"},
		{"slug reserved", call{method: "POST", path: "/projects", body: `{"name":"a","slug":"tickets"}`}, 400, "reserved_slug"},
		{"duplicate slug", call{method: "POST", path: "/projects", body: `{"name":"a","slug":"` + cp.Slug + `"}`}, 409, "slug_taken"},
		{"another account's slug", call{method: "POST", path: "/projects", body: `{"name":"a","slug":"` + otherProject.Slug + `"}`}, 409, "slug_taken"},
		{"unknown plan", call{method: "POST", path: "/projects", body: `{"name":"a","plan":"gold"}`}, 400, "invalid_plan"},
		{"oversized body", call{method: "POST", path: "/projects", body: `{"name":"` + strings.Repeat("a", 2<<20) + `"}`}, 413, "body_too_large"},
		{"unknown slug", call{method: "GET", path: "/no-such-project/info"}, 404, "project_not_found"},
		{"invalid slug in path", call{method: "GET", path: "/NOPE/info"}, 404, "project_not_found"},
		{"another account's project info", call{method: "GET", path: "/" + otherProject.Slug + "/info"}, 404, "project_not_found"},
		{"another account's credentials", call{method: "GET", path: "/" + otherProject.Slug + "/credentials"}, 404, "project_not_found"},
		{"another account's delete", call{method: "DELETE", path: "/" + otherProject.Slug}, 404, "project_not_found"},
		{"another account's setup", call{method: "GET", path: "/" + otherProject.Slug + "/setup"}, 404, "project_not_found"},
		{"missing key", call{method: "GET", path: "/projects", key: "-"}, 401, "missing_api_key"},
		{"malformed key", call{method: "GET", path: "/projects", key: "hello"}, 401, "invalid_api_key"},
		{"wrong key", call{method: "GET", path: "/projects", key: "mk_" + strings.Repeat("x", 40)}, 401, "invalid_api_key"},
		{"revoked key", call{method: "GET", path: "/projects", key: revoked}, 401, "api_key_revoked"},
		{"expired key", call{method: "GET", path: "/projects", key: expired}, 401, "api_key_expired"},
		{"key in the query string", call{method: "GET", path: "/projects?api_key=" + env.APIKey, key: "-"}, 401, "api_key_in_query"},
		{"wrong method", call{method: "PUT", path: "/projects"}, 405, "method_not_allowed"},
		{"wrong method on a project route", call{method: "POST", path: "/" + cp.Slug + "/info"}, 405, "method_not_allowed"},
		{"no such route", call{method: "GET", path: "/projects/extra/segments"}, 404, "route_not_found"},
		{"no such project route", call{method: "GET", path: "/" + cp.Slug + "/nothing-here"}, 404, "route_not_found"},
		{"ticket id not a number", call{method: "GET", path: "/tickets/abc"}, 404, "ticket_not_found"},
		{"unknown ticket", call{method: "GET", path: "/tickets/999999999"}, 404, "ticket_not_found"},
		{"ticket subject wrong type", call{method: "POST", path: "/tickets", body: `{"subject": true, "message": "m"}`}, 400, "invalid_type"},
		{"ticket without message", call{method: "POST", path: "/tickets", body: `{"subject": "s"}`}, 400, "invalid_message"},
		{"ticket on another account's project", call{method: "POST", path: "/tickets", body: `{"subject": "s", "message": "m", "project_id": "` + otherProject.ID.String() + `"}`}, 404, "project_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, env, tc.call)
			if a.status != tc.status {
				t.Errorf("status %d, want %d; body %s", a.status, tc.status, a.body)
			}
			if a.status >= 500 {
				t.Errorf("a user's mistake got a %d", a.status)
			}
			if a.json["error"] != tc.code || a.json["detail"] == "" || a.json["detail"] == nil {
				t.Errorf("body %s, want error %q and a detail", a.body, tc.code)
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	// The other account's project is intact after all that.
	if _, err := otherClient.ProjectInfo(context.Background(), otherProject.Slug); err != nil {
		t.Errorf("the other account's project: %v", err)
	}
}

func TestProjectLifecycleOverHTTP(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	ctx := context.Background()
	c := env.Client
	created, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "My App", Slug: "life-" + randSuffix()})
	if err != nil {
		t.Fatal(err)
	}
	// The create answer has exactly the API reference's shape.
	a := do(t, env, call{method: "POST", path: "/projects", body: `{"name":"Shape Check"}`})
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	wantKeys(t, a.json, "id", "name", "slug", "database", "git_repo_url")
	wantKeys(t, a.json["database"].(map[string]any), "name", "host", "port", "user", "password")
	t.Cleanup(func() { c.DeleteProject(ctx, a.json["slug"].(string)) })

	list, err := c.ListProjects(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	info, err := c.ProjectInfo(ctx, created.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if info.Plan != "free" || info.Status != "active" || info.Limits.DatabaseBytes != 2<<30 || info.CreatedAt.IsZero() || info.UpdatedAt.IsZero() {
		t.Errorf("info = %+v", info)
	}
	if info.GitRepoURL != created.GitRepoURL || !strings.HasSuffix(info.GitRepoURL, "/git/"+created.Slug+".git") {
		t.Errorf("git_repo_url %q / %q", info.GitRepoURL, created.GitRepoURL)
	}
	creds, err := c.Credentials(ctx, created.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Password != created.Database.Password || !strings.HasPrefix(creds.DatabaseURL, "postgresql://"+created.Database.User+":") {
		t.Errorf("credentials = %+v", creds)
	}
	guide, err := c.Setup(ctx, created.Slug)
	if err != nil || !strings.Contains(guide, created.Slug) || strings.Contains(guide, creds.Password) {
		t.Errorf("setup guide (err %v) lacks the slug or leaks the password:\n%s", err, guide)
	}
	if err := c.DeleteProject(ctx, created.Slug); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProjectInfo(ctx, created.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("info after delete: %v, want not found", err)
	}
	if err := c.DeleteProject(ctx, created.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("second delete: %v, want not found", err)
	}
}

func wantKeys(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Errorf("object has keys %v, want exactly %v", mapKeys(m), keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("object lacks %q: %v", k, mapKeys(m))
		}
	}
}

func mapKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

var seq atomic.Int64

func randSuffix() string {
	return strings.ToLower(time.Now().Format("150405")) + "-" + string(rune('a'+seq.Add(1)%26))
}

func TestWhoamiAndRotate(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	ctx := context.Background()
	w, err := env.Client.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w.Account.ID != env.Account.ID || !strings.HasPrefix(env.APIKey, w.Key.Prefix) {
		t.Errorf("whoami = %+v", w)
	}
	r, err := env.Client.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !mosaic.ValidKeyFormat(r.Key) || r.PreviousKey.ID != w.Key.ID || !r.PreviousKey.ExpiresAt.Before(w.Key.ExpiresAt) {
		t.Errorf("rotation = %+v", r)
	}
	w2, err := env.Client.WithKey(r.Key).Whoami(ctx)
	if err != nil || w2.Key.ID != r.NewKey.ID {
		t.Errorf("whoami with the new key: %+v %v", w2, err)
	}
	if _, err := env.Client.Whoami(ctx); err != nil {
		t.Errorf("the old key stopped working inside the grace period: %v", err)
	}
	// The answer must not be cached anywhere.
	a := do(t, env, call{method: "GET", path: "/" + env.Project(t).Slug + "/credentials"})
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("credentials Cache-Control = %q", a.header.Get("Cache-Control"))
	}
}

func TestTicketsOverHTTP(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	ctx := context.Background()
	cp := env.Project(t)
	tk, err := env.Client.CreateTicket(ctx, client.CreateTicketRequest{Subject: "Feature Request: x", Message: "please", ProjectID: cp.Slug})
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.Client.Ticket(ctx, tk.ID)
	if err != nil || got.Subject != "Feature Request: x" || got.ProjectID == nil || *got.ProjectID != cp.ID {
		t.Errorf("ticket = %+v %v", got, err)
	}
	_, _, other := env.NewAccount(t)
	if _, err := other.Ticket(ctx, tk.ID); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account reads the ticket: %v", err)
	}
	ts, err := other.ListTickets(ctx)
	if err != nil || len(ts) != 0 {
		t.Errorf("another account lists %d tickets (%v)", len(ts), err)
	}
	mine, err := env.Client.ListTickets(ctx)
	if err != nil || len(mine) != 1 {
		t.Errorf("list = %d tickets (%v)", len(mine), err)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) { c.Domain = "mosaic.site" }), mosaictest.WithAPIOptions(func(o *httpapi.Options) { o.CORSDomain = "mosaic.site" }))
	// http origins on the domain are allowed only while the platform itself
	// is served over http, as the harness is ("http://app.mosaic.site" below).
	if !strings.HasPrefix(env.Platform.PublicURL(), "http:") {
		t.Fatal("the harness serves over http; this test assumes it")
	}
	allowed := []string{"https://myapp-x4k2.mosaic.site", "https://mosaic.site", "http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:8080", "https://localhost", "http://app.mosaic.site"}
	refused := []string{"https://evil.com", "https://evil-mosaic.site", "https://mosaic.site.evil.com", "https://a.b.mosaic.site", "null",
		"http://localhost.evil.com", "https://127.0.0.1.evil.com", "file://", "https://mosaic.sitex", "ftp://app.mosaic.site", "https://user@app.mosaic.site"}
	for _, o := range allowed {
		a := do(t, env, call{method: "GET", path: "/whoami", header: map[string]string{"Origin": o}})
		if a.header.Get("Access-Control-Allow-Origin") != o || a.status != 200 {
			t.Errorf("origin %q: ACAO %q status %d, want allowed", o, a.header.Get("Access-Control-Allow-Origin"), a.status)
		}
		pf := do(t, env, call{method: "OPTIONS", path: "/projects", key: "-", header: map[string]string{"Origin": o, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key, content-type"}})
		if pf.status != http.StatusNoContent || !strings.Contains(pf.header.Get("Access-Control-Allow-Headers"), "X-API-Key") {
			t.Errorf("preflight from %q: %d %v", o, pf.status, pf.header)
		}
	}
	for _, o := range refused {
		a := do(t, env, call{method: "GET", path: "/whoami", header: map[string]string{"Origin": o}})
		if got := a.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("origin %q got ACAO %q, want none", o, got)
		}
		pf := do(t, env, call{method: "OPTIONS", path: "/projects", key: "-", header: map[string]string{"Origin": o, "Access-Control-Request-Method": "POST"}})
		if pf.status != http.StatusForbidden || pf.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %q: %d, want 403 without ACAO", o, pf.status)
		}
	}
}

// TestDiscoverMatchesRoutes: GET / lists exactly the route table, and every
// listed route is mounted (answers something other than a routing 404/405).
func TestDiscoverMatchesRoutes(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	d, err := env.Client.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	table := env.Handler.Routes()
	if len(d.Endpoints) != len(table) {
		t.Fatalf("discover lists %d routes, the table has %d", len(d.Endpoints), len(table))
	}
	for i, rt := range table {
		if e := d.Endpoints[i]; e.Method != rt.Method || e.Path != rt.Path || e.Description == "" || e.Auth != rt.Auth {
			t.Errorf("discover[%d] = %+v, table has %+v", i, e, rt)
		}
		path := strings.NewReplacer("{slug}", "zz-no-such-project", "{id}", "1").Replace(rt.Path)
		if rt.Method == "DELETE" {
			path = strings.ReplaceAll(rt.Path, "{slug}", "zz-no-such-project")
		}
		a := do(t, env, call{method: rt.Method, path: path, body: "{}"})
		if a.json["error"] == "route_not_found" || a.status == http.StatusMethodNotAllowed || a.status >= 500 {
			t.Errorf("%s %s is listed but not served: %d %s", rt.Method, path, a.status, a.body)
		}
		if rt.Auth {
			a := do(t, env, call{method: rt.Method, path: path, key: "-"})
			if a.status != http.StatusUnauthorized {
				t.Errorf("%s %s without a key: %d, want 401", rt.Method, path, a.status)
			}
		}
	}
	// OPTIONS without CORS answers the allowed methods.
	if a := do(t, env, call{method: "OPTIONS", path: "/projects", key: "-"}); a.status != http.StatusNoContent || a.header.Get("Allow") != "GET, POST, HEAD, OPTIONS" {
		t.Errorf("OPTIONS /projects: %d Allow %q", a.status, a.header.Get("Allow"))
	}
	// HEAD works where GET does, and the API is also reachable with a trailing-slash-free prefix.
	req, _ := http.NewRequest(http.MethodHead, env.BaseURL+"/projects", nil)
	req.Header.Set("X-API-Key", env.APIKey)
	resp, err := env.Server.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("HEAD /projects: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestHealthzAndRequestIDs(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	resp, err := http.Get(env.Server.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	a := do(t, env, call{method: "GET", path: "/whoami", header: map[string]string{"X-Request-ID": "abc-123"}})
	if a.header.Get("X-Request-ID") != "abc-123" {
		t.Errorf("request id not echoed: %q", a.header.Get("X-Request-ID"))
	}
	a = do(t, env, call{method: "GET", path: "/whoami", header: map[string]string{"X-Request-ID": "bad id with spaces!"}})
	if id := a.header.Get("X-Request-ID"); id == "" || strings.Contains(id, " ") {
		t.Errorf("a bad request id was not replaced: %q", id)
	}
}

// TestAccessLogHasNoSecrets: the structured access log names method, path and
// status, and never the API key or a query string.
func TestAccessLogHasNoSecrets(t *testing.T) {
	t.Parallel()
	var buf safeBuffer
	log := slogJSON(&buf)
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) { c.Logger = log }), mosaictest.WithAPIOptions(func(o *httpapi.Options) { o.Logger = log }))
	cp := env.Project(t)
	do(t, env, call{method: "GET", path: "/" + cp.Slug + "/credentials?token=secret-token"})
	out := buf.String()
	if !strings.Contains(out, `"path":"/`+cp.Slug+`/credentials"`) || !strings.Contains(out, `"status":200`) {
		t.Errorf("access log lacks the request:\n%s", out)
	}
	for _, secret := range []string{env.APIKey, "secret-token", cp.Credentials.Password} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains a secret %q", secret[:6])
		}
	}
}
