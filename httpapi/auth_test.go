package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// authTestEnv is an Env with a cheap argon2id (these tests check behaviour;
// the benchmarks use the real parameters).
func authTestEnv(t *testing.T) *mosaictest.Env {
	env, _ := authTestEnvLogs(t)
	return env
}

// authTestEnvLogs is authTestEnv with the platform's and the API's logs,
// at debug level, kept for scanning.
func authTestEnvLogs(t *testing.T) (*mosaictest.Env, *lockedBuffer) {
	logs := &lockedBuffer{}
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Auth.Params = authn.Params{Memory: 64, Time: 1, Threads: 1}
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}))
	return env, logs
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// scan fails the test if the logs hold a hash or one of the secrets.
func (l *lockedBuffer) scan(t *testing.T, secrets ...string) {
	t.Helper()
	l.mu.Lock()
	out := l.b.String()
	l.mu.Unlock()
	if !strings.Contains(out, "http request") {
		t.Fatal("no access log recorded: the scan proves nothing")
	}
	for _, n := range append([]string{"$argon2", "$2a$"}, secrets...) {
		if strings.Contains(out, n) {
			t.Fatalf("the logs hold a secret (%.12s...)", n)
		}
	}
}

// recorder keeps every response body that passes through it.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
	next   http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	return resp, nil
}

// scan fails the test if any recorded body holds a password hash or one
// of the secrets (tokens), raw or hashed.
func (r *recorder) scan(t *testing.T, secrets ...string) {
	t.Helper()
	needles := []string{"$argon2", "$2a$", "$2b$", "password_hash", "token_hash"}
	for _, s := range secrets {
		sum := sha256.Sum256([]byte(s))
		needles = append(needles, s, hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(sum[:]))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) < 5 {
		t.Fatalf("only %d bodies recorded: the scan proves little", len(r.bodies))
	}
	for _, b := range r.bodies {
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Fatalf("a response holds a secret (%.12s...): %s", n, b)
			}
		}
	}
}

type authHTTP struct {
	t    *testing.T
	env  *mosaictest.Env
	rec  *recorder
	hc   *http.Client // does not follow redirects
	slug string
}

func newAuthHTTP(t *testing.T, env *mosaictest.Env, slug string) *authHTTP {
	rec := &recorder{next: http.DefaultTransport}
	return &authHTTP{t: t, env: env, rec: rec, slug: slug, hc: &http.Client{Transport: rec,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// call sends a request to /{slug}/auth/<route>; key "-" sends none.
func (h *authHTTP) call(method, route, body, key string, hdr ...string) answer {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.env.BaseURL+"/"+h.slug+"/auth/"+route, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch key {
	case "":
		req.Header.Set("X-API-Key", h.env.APIKey)
	case "-":
	default:
		req.Header.Set("X-API-Key", key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	_ = json.Unmarshal(b, &a.json)
	return a
}

func wantError(t *testing.T, what string, a answer, status int, code string) {
	t.Helper()
	shape(t, what, a, status, "detail", "error")
	if a.json["error"] != code {
		t.Fatalf("%s: error %v, want %q: %s", what, a.json["error"], code, a.body)
	}
}

var userMembers = []string{"id", "email", "name", "avatar_url", "metadata", "email_verified", "verified_at",
	"has_password", "login_count", "last_login_at", "created_at", "updated_at"}

func userOf(t *testing.T, a answer) map[string]any {
	t.Helper()
	u, ok := a.json["user"].(map[string]any)
	if !ok {
		t.Fatalf("no user: %s", a.body)
	}
	got := make([]string, 0, len(u))
	for k := range u {
		got = append(got, k)
	}
	for _, m := range userMembers {
		if _, ok := u[m]; !ok {
			t.Fatalf("user lacks %q: %s", m, a.body)
		}
	}
	if len(u) != len(userMembers) {
		t.Fatalf("user members %q, want %q", got, userMembers)
	}
	return u
}

// TestAuthRoutes walks the thirteen routes with the API reference's
// examples and checks each answer's shape and each documented error.
func TestAuthRoutes(t *testing.T) {
	t.Parallel()
	env := authTestEnv(t)
	slug := env.Project(t).Slug
	h := newAuthHTTP(t, env, slug)

	// init, twice.
	a := h.call("POST", "init", "", "")
	shape(t, "init", a, 200, "success", "version", "applied", "tables")
	if a.json["version"] != float64(authn.SchemaVersion) {
		t.Fatalf("init: %s", a.body)
	}
	a = h.call("POST", "init", "", "")
	if apps, _ := a.json["applied"].([]any); a.status != 200 || len(apps) != 0 {
		t.Fatalf("second init: %s", a.body)
	}

	// signup.
	a = h.call("POST", "signup", `{"email": "user@example.com", "password": "securepass123", "name": "Alice", "metadata": {"team": "red"}}`, "")
	shape(t, "signup", a, 201, "success", "user")
	u := userOf(t, a)
	if u["email"] != "user@example.com" || u["has_password"] != true || u["name"] != "Alice" || u["login_count"] != float64(0) {
		t.Fatalf("signup: %s", a.body)
	}
	id := u["id"].(string)
	wantError(t, "short password", h.call("POST", "signup", `{"email": "b@example.com", "password": "1234567"}`, ""), 400, "password_too_short")
	wantError(t, "duplicate", h.call("POST", "signup", `{"email": "USER@example.com", "password": "securepass123"}`, ""), 409, "user_exists")
	wantError(t, "bad email", h.call("POST", "signup", `{"email": "not-an-email", "password": "securepass123"}`, ""), 400, "invalid_email")
	wantError(t, "metadata array", h.call("POST", "signup", `{"email": "c@example.com", "password": "securepass123", "metadata": [1]}`, ""), 400, "invalid_metadata")
	wantError(t, "bad json", h.call("POST", "signup", `{"email": `, ""), 400, "invalid_json")
	wantError(t, "wrong type", h.call("POST", "signup", `{"email": 5, "password": "securepass123"}`, ""), 400, "invalid_type")
	wantError(t, "no key", h.call("POST", "signup", `{"email": "d@example.com", "password": "securepass123"}`, "-"), 401, "missing_api_key")
	wantError(t, "unknown project", (&authHTTP{t: t, env: env, rec: h.rec, hc: h.hc, slug: "no-such-project"}).call("POST", "signup", `{"email": "d@example.com", "password": "securepass123"}`, ""), 404, "project_not_found")

	// login.
	a = h.call("POST", "login", `{"email": "user@example.com", "password": "securepass123"}`, "")
	shape(t, "login", a, 200, "success", "user")
	if u := userOf(t, a); u["login_count"] != float64(1) || u["last_login_at"] == nil {
		t.Fatalf("login: %s", a.body)
	}
	wrong := h.call("POST", "login", `{"email": "user@example.com", "password": "wrongpass123"}`, "")
	wantError(t, "wrong password", wrong, 401, "invalid_credentials")
	unknown := h.call("POST", "login", `{"email": "nobody@example.com", "password": "wrongpass123"}`, "")
	wantError(t, "unknown email", unknown, 401, "invalid_credentials")
	if !bytes.Equal(wrong.body, unknown.body) {
		t.Fatalf("unknown email and wrong password answer differently:\n%s\n%s", wrong.body, unknown.body)
	}

	// change-password.
	wantError(t, "change, wrong current", h.call("POST", "change-password", `{"user_id": "`+id+`", "current_password": "old", "new_password": "new123456"}`, ""), 401, "invalid_credentials")
	wantError(t, "change, bad id", h.call("POST", "change-password", `{"user_id": "42", "current_password": "securepass123", "new_password": "new123456"}`, ""), 400, "invalid_user_id")
	wantError(t, "change, unknown user", h.call("POST", "change-password", `{"user_id": "00000000-0000-4000-8000-000000000000", "current_password": "securepass123", "new_password": "new123456"}`, ""), 404, "user_not_found")
	wantError(t, "change, short", h.call("POST", "change-password", `{"user_id": "`+id+`", "current_password": "securepass123", "new_password": "new"}`, ""), 400, "password_too_short")
	a = h.call("POST", "change-password", `{"user_id": "`+id+`", "current_password": "securepass123", "new_password": "new123456"}`, "")
	shape(t, "change-password", a, 200, "success", "user")

	// set-password.
	a = h.call("POST", "set-password", `{"user_id": "`+id+`", "password": "theirpassword"}`, "")
	shape(t, "set-password", a, 200, "success", "user")
	wantError(t, "set, short", h.call("POST", "set-password", `{"user_id": "`+id+`", "password": "x"}`, ""), 400, "password_too_short")

	// reset-password: the same answer for a known and an unknown email.
	known := h.call("POST", "reset-password", `{"email": "user@example.com", "redirect_url": "https://yourapp.com/reset"}`, "")
	shape(t, "reset-password", known, 200, "success", "sent", "expires_in_minutes", "message")
	if known.json["expires_in_minutes"] != float64(60) {
		t.Fatalf("reset: %s", known.body)
	}
	if other := h.call("POST", "reset-password", `{"email": "nobody@example.com", "redirect_url": "https://yourapp.com/reset"}`, ""); !bytes.Equal(other.body, known.body) {
		t.Fatalf("reset answers differ:\n%s\n%s", known.body, other.body)
	}
	wantError(t, "reset, open redirect", h.call("POST", "reset-password", `{"email": "user@example.com", "redirect_url": "//evil.example/x"}`, ""), 400, "invalid_redirect_url")

	// reset-password/confirm: no API key needed; junk tokens are 400.
	wantError(t, "confirm GET junk", h.call("GET", "reset-password/confirm?token=junk", "", "-"), 400, "invalid_token")
	wantError(t, "confirm POST junk", h.call("POST", "reset-password/confirm", `{"token": "`+strings.Repeat("A", 43)+`", "new_password": "newpass123"}`, "-"), 400, "invalid_token")
	wantError(t, "confirm POST no token", h.call("POST", "reset-password/confirm", `{"new_password": "newpass123"}`, "-"), 400, "invalid_token")
	page := h.call("GET", "reset-password/confirm?token=junk", "", "-", "Accept", "text/html")
	if page.status != 400 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") || !bytes.Contains(page.body, []byte("invalid_token")) {
		t.Fatalf("browser error page: %d %s", page.status, page.body)
	}

	// send-magic-link and verify.
	a = h.call("POST", "send-magic-link", `{"email": "user@example.com", "redirect_url": "https://yourapp.com/dashboard", "name": "Alice"}`, "")
	shape(t, "send-magic-link", a, 200, "success", "sent", "expires_in_minutes", "message")
	if a.json["sent"] != true || a.json["expires_in_minutes"] != float64(15) {
		t.Fatalf("magic link: %s", a.body)
	}
	wantError(t, "magic, js redirect", h.call("POST", "send-magic-link", `{"email": "user@example.com", "redirect_url": "javascript:alert(1)"}`, ""), 400, "invalid_redirect_url")
	wantError(t, "verify junk", h.call("GET", "verify?token=junk&redirect=https://yourapp.com/dashboard", "", "-"), 400, "invalid_token")

	// users.
	h.call("POST", "signup", `{"email": "second@example.com", "password": "securepass123"}`, "")
	a = h.call("GET", "users?limit=50&verified_only=false", "", "")
	shape(t, "users", a, 200, "users", "total", "limit", "offset")
	if a.json["total"] != float64(2) || len(a.json["users"].([]any)) != 2 {
		t.Fatalf("users: %s", a.body)
	}
	if a = h.call("GET", "users?limit=1&offset=1", "", ""); a.status != 200 || len(a.json["users"].([]any)) != 1 {
		t.Fatalf("users page 2: %s", a.body)
	}
	if a = h.call("GET", "users?verified_only=true", "", ""); a.status != 200 || a.json["total"] != float64(0) {
		t.Fatalf("verified only: %s", a.body)
	}
	wantError(t, "limit 0", h.call("GET", "users?limit=0", "", ""), 400, "invalid_limit")
	wantError(t, "limit 1001", h.call("GET", "users?limit=1001", "", ""), 400, "invalid_limit")
	wantError(t, "limit abc", h.call("GET", "users?limit=abc", "", ""), 400, "invalid_limit")
	wantError(t, "offset -1", h.call("GET", "users?offset=-1", "", ""), 400, "invalid_offset")
	wantError(t, "verified_only maybe", h.call("GET", "users?verified_only=maybe", "", ""), 400, "invalid_verified_only")

	// one user: get, patch, delete.
	a = h.call("GET", "users/"+id, "", "")
	shape(t, "user", a, 200, "user")
	userOf(t, a)
	wantError(t, "user junk id", h.call("GET", "users/junk", "", ""), 404, "user_not_found")
	wantError(t, "user unknown", h.call("GET", "users/00000000-0000-4000-8000-000000000000", "", ""), 404, "user_not_found")
	a = h.call("PATCH", "users/"+id, `{"name": "New Name", "metadata": {"role": "admin"}, "avatar_url": "https://img.example/a.png"}`, "")
	shape(t, "patch", a, 200, "success", "user")
	if u := userOf(t, a); u["name"] != "New Name" || u["avatar_url"] != "https://img.example/a.png" || u["metadata"].(map[string]any)["role"] != "admin" {
		t.Fatalf("patch: %s", a.body)
	}
	wantError(t, "patch nothing", h.call("PATCH", "users/"+id, `{}`, ""), 400, "nothing_to_update")
	wantError(t, "patch avatar", h.call("PATCH", "users/"+id, `{"avatar_url": "javascript:x"}`, ""), 400, "invalid_avatar_url")
	wantError(t, "patch metadata", h.call("PATCH", "users/"+id, `{"metadata": "x"}`, ""), 400, "invalid_metadata")
	a = h.call("DELETE", "users/"+id, "", "")
	shape(t, "delete", a, 200, "success", "deleted", "user_id")
	wantError(t, "delete again", h.call("DELETE", "users/"+id, "", ""), 404, "user_not_found")
	wantError(t, "method", h.call("PUT", "users/"+id, "", ""), 405, "method_not_allowed")

	// Discovery lists every auth route, and only verify and confirm go without a key.
	d, err := env.Client.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, r := range d.Endpoints {
		if strings.Contains(r.Path, "/auth/") {
			n++
			public := strings.HasSuffix(r.Path, "/verify") || strings.HasSuffix(r.Path, "/reset-password/confirm")
			if r.Auth == public {
				t.Errorf("%s %s: auth %v", r.Method, r.Path, r.Auth)
			}
		}
	}
	if n != 15 { // the reference's 13 routes (confirm with GET and POST) and exchange
		t.Fatalf("%d auth routes listed", n)
	}
	h.rec.scan(t)
}

var mailLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/auth/(verify|reset-password/confirm)\?[^\s"<>]+`)

func linkIn(t *testing.T, m mosaictest.Mail) (string, string) {
	t.Helper()
	link := mailLinkRE.FindString(m.Text)
	if link == "" {
		t.Fatalf("no link in the message:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="`+strings.ReplaceAll(link, "&", "&amp;")+`"`) {
		t.Fatalf("the HTML part lacks the link %s:\n%s", link, m.HTML)
	}
	u, _ := url.Parse(link)
	return link, u.Query().Get("token")
}

// TestAuthResetFlowOverSMTP: reset-password → a real SMTP server → the
// link read out of the message → GET it → the app's page → POST confirm
// without an API key → the new password works, the old one and the token
// do not.
func TestAuthResetFlowOverSMTP(t *testing.T) {
	t.Parallel()
	env, logs := authTestEnvLogs(t)
	cp := env.Project(t, func(n *mosaic.NewProject) { n.Name = "Acme Notes" })
	h := newAuthHTTP(t, env, cp.Slug)
	c := client.New(env.BaseURL, env.APIKey, client.WithHTTPClient(&http.Client{Transport: h.rec})).Auth(cp.Slug)
	public := client.New(env.BaseURL, "", client.WithHTTPClient(&http.Client{Transport: h.rec})).Auth(cp.Slug)
	ctx := context.Background()

	if _, err := c.Signup(ctx, client.SignupRequest{Email: "ada@example.com", Password: "first-password"}); err != nil {
		t.Fatal(err)
	}
	sent, err := c.ResetPassword(ctx, "ada@example.com", "https://notes.example/reset")
	if err != nil || !sent.Sent || sent.ExpiresInMinutes != 60 {
		t.Fatalf("%+v %v", sent, err)
	}
	m := env.WaitMail(t, "ada@example.com")
	if m.Subject != "Reset your Acme Notes password" || !strings.Contains(m.Header.Get("From"), "Acme Notes") {
		t.Fatalf("subject %q from %q", m.Subject, m.Header.Get("From"))
	}
	link, token := linkIn(t, m)
	if !strings.HasPrefix(link, env.BaseURL+"/"+cp.Slug+"/auth/reset-password/confirm?token=") || len(token) != 43 {
		t.Fatalf("link %s", link)
	}
	// The end user's browser opens the link: no API key.
	resp, err := h.hc.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://notes.example/reset?token="+token {
		t.Fatalf("GET link: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The app's page posts the new password with the token.
	u, err := public.ConfirmReset(ctx, token, "second-password")
	if err != nil || !u.EmailVerified {
		t.Fatalf("confirm: %+v %v", u, err)
	}
	if _, err := c.Login(ctx, "ada@example.com", "second-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, "ada@example.com", "first-password"); err == nil {
		t.Fatal("the old password still works")
	}
	if _, err := public.ConfirmReset(ctx, token, "third-password"); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Fatalf("token reuse: %v", err)
	}
	if _, err := public.CheckReset(ctx, token, ""); err == nil {
		t.Fatal("a used token still checks out")
	}
	h.rec.scan(t, token)
	logs.scan(t, token, "first-password", "second-password")
}

// TestAuthMagicLinkFlowOverSMTP: send-magic-link → a real SMTP server → the
// link read out of the message → an HTTP client follows it to the app,
// which receives user_id and verified=true; the user exists, verified, and
// set-password gives them a password.
func TestAuthMagicLinkFlowOverSMTP(t *testing.T) {
	t.Parallel()
	env, logs := authTestEnvLogs(t)
	cp := env.Project(t, func(n *mosaic.NewProject) { n.Name = "Zed App" })
	h := newAuthHTTP(t, env, cp.Slug)
	c := client.New(env.BaseURL, env.APIKey, client.WithHTTPClient(&http.Client{Transport: h.rec})).Auth(cp.Slug)
	ctx := context.Background()

	landed := make(chan url.Values, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/welcome" {
			landed <- r.URL.Query()
		}
		io.WriteString(w, "welcome")
	}))
	defer app.Close()

	sent, err := c.SendMagicLink(ctx, "zoe@example.com", app.URL+"/welcome?from=mail", "Zoe")
	if err != nil || !sent.Sent || sent.ExpiresInMinutes != 15 {
		t.Fatalf("%+v %v", sent, err)
	}
	m := env.WaitMail(t, "zoe@example.com")
	if m.Subject != "Sign in to Zed App" {
		t.Fatalf("subject %q", m.Subject)
	}
	link, token := linkIn(t, m)
	if !strings.HasPrefix(link, env.BaseURL+"/"+cp.Slug+"/auth/verify?token=") {
		t.Fatalf("link %s", link)
	}
	// A HEAD, as mail scanners send, does not use the link up.
	if a := h.call("HEAD", strings.TrimPrefix(link, env.BaseURL+"/"+cp.Slug+"/auth/"), "", "-"); a.status != 200 {
		t.Fatalf("HEAD: %d", a.status)
	}
	// A browser: follows the redirect to the app.
	browser := &http.Client{Transport: h.rec}
	resp, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "welcome" {
		t.Fatalf("after the redirect: %d %s", resp.StatusCode, body)
	}
	q := <-landed
	if q.Get("verified") != "true" || q.Get("from") != "mail" || q.Get("user_id") == "" {
		t.Fatalf("the app got %v", q)
	}
	users, err := c.Users(ctx, client.ListUsersOptions{VerifiedOnly: true})
	if err != nil || users.Total != 1 {
		t.Fatalf("%+v %v", users, err)
	}
	u := users.Users[0]
	if u.ID.String() != q.Get("user_id") || u.Email != "zoe@example.com" || *u.Name != "Zoe" || u.HasPassword || u.LoginCount != 1 || u.VerifiedAt == nil {
		t.Fatalf("user %+v", u)
	}
	// The link works once.
	if resp, err := h.hc.Get(link); err != nil || resp.StatusCode != 400 {
		t.Fatalf("second use: %v %v", resp.StatusCode, err)
	}
	// A link with its redirect changed is refused, and does not redirect.
	c.SendMagicLink(ctx, "zoe@example.com", app.URL+"/welcome", "")
	_, token2 := linkIn(t, env.WaitMail(t, "zoe@example.com"))
	if loc, err := client.New(env.BaseURL, "").Auth(cp.Slug).Verify(ctx, token2, "https://evil.example/"); err == nil || loc != "" {
		t.Fatalf("tampered redirect: %q %v", loc, err)
	}
	if loc, err := client.New(env.BaseURL, "").Auth(cp.Slug).Verify(ctx, token2, ""); err != nil || !strings.HasPrefix(loc, app.URL+"/welcome?") {
		t.Fatalf("verify: %q %v", loc, err)
	}

	set, err := c.SetPassword(ctx, u.ID, "zoe-password")
	if err != nil || !set.HasPassword {
		t.Fatalf("set-password: %+v %v", set, err)
	}
	if got, err := c.Login(ctx, "zoe@example.com", "zoe-password"); err != nil || got.LoginCount != 3 {
		t.Fatalf("login: %+v %v", got, err)
	}
	h.rec.scan(t, token, token2)
	logs.scan(t, token, token2, "zoe-password")
}
