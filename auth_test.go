package mosaic_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// authCheap lowers the argon2id cost for tests of logic (the benchmarks use
// the real parameters), and sets a clock when one is given.
func authEnv(t *testing.T, now func() time.Time, f func(*mosaic.Config)) *mosaictest.Env {
	return mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Auth.Params = authn.Params{Memory: 64, Time: 1, Threads: 1}
		if now != nil {
			c.Now = now
		}
		if f != nil {
			f(c)
		}
	}))
}

// projectAuth makes a project of env (with opts) and returns its slug and
// its end-user auth.
func projectAuth(t *testing.T, env *mosaictest.Env, opts ...func(*mosaic.NewProject)) (string, *mosaic.Auth) {
	t.Helper()
	slug := env.Project(t, opts...).Slug
	a, err := env.Platform.Auth(context.Background(), env.Account.ID, slug)
	if err != nil {
		t.Fatal(err)
	}
	return slug, a
}

type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/auth/(verify|reset-password/confirm)\?[^\s"<>]+`)

// mailedToken reads the link out of a delivered message and returns its token and redirect.
func mailedToken(t *testing.T, m mosaictest.Mail) (link, token, redirect string) {
	t.Helper()
	link = linkRE.FindString(m.Text)
	if link == "" {
		t.Fatalf("no link in the message:\n%s", m.Text)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return link, u.Query().Get("token"), u.Query().Get("redirect")
}

func wantErr(t *testing.T, err error, kind errs.Kind, code string) *errs.Error {
	t.Helper()
	e := errs.As(err)
	if err == nil || e.Kind != kind || (code != "" && e.ErrorCode() != code) {
		t.Fatalf("error %v (%v %q); want %v %q", err, e.Kind, e.ErrorCode(), kind, code)
	}
	return e
}

// TestAuthTenantIsolation: a user of project A cannot log in to project B
// (same account or another), A's links do not work on B, A's user ids mean
// nothing on B, and another account cannot reach A's auth at all.
func TestAuthTenantIsolation(t *testing.T) {
	t.Parallel()
	env := authEnv(t, nil, nil)
	ctx := context.Background()
	owner := env.Account.ID
	a, b := env.Project(t).Slug, env.Project(t).Slug
	authA, err := env.Platform.Auth(ctx, owner, a)
	if err != nil {
		t.Fatal(err)
	}
	authB, err := env.Platform.Auth(ctx, owner, b)
	if err != nil {
		t.Fatal(err)
	}
	u, err := authA.Signup(ctx, mosaic.AuthNewUser{Email: "eve@example.com", Password: "password-a"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = authB.Login(ctx, "eve@example.com", "password-a", "")
	wantErr(t, err, errs.Unauthorized, "invalid_credentials")
	_, err = authB.User(ctx, u.ID)
	wantErr(t, err, errs.NotFound, "user_not_found")
	_, err = authB.SetPassword(ctx, u.ID, "password-b")
	wantErr(t, err, errs.NotFound, "user_not_found")
	wantErr(t, authB.DeleteUser(ctx, u.ID), errs.NotFound, "user_not_found")
	if l, err := authB.Users(ctx, mosaic.AuthList{}); err != nil || l.Total != 0 {
		t.Fatalf("B lists %+v, %v", l, err)
	}

	// A's magic link and reset link, used on B.
	if _, err := authA.SendMagicLink(ctx, "eve@example.com", "/in", nil, ""); err != nil {
		t.Fatal(err)
	}
	_, tok, redirect := mailedToken(t, env.WaitMail(t, "eve@example.com"))
	_, _, err = env.Platform.VerifyMagicLink(ctx, b, tok, redirect)
	wantErr(t, err, errs.Invalid, "invalid_token")
	if _, err := authA.SendPasswordReset(ctx, "eve@example.com", "", ""); err != nil {
		t.Fatal(err)
	}
	_, rtok, _ := mailedToken(t, env.WaitMail(t, "eve@example.com"))
	_, err = env.Platform.ConfirmPasswordReset(ctx, b, rtok, "password-b")
	wantErr(t, err, errs.Invalid, "invalid_token")
	// On A they work.
	if _, _, err := env.Platform.VerifyMagicLink(ctx, a, tok, redirect); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Platform.ConfirmPasswordReset(ctx, a, rtok, "password-c"); err != nil {
		t.Fatal(err)
	}

	// Another account: A does not exist for it.
	other, _, _ := env.NewAccount(t)
	_, err = env.Platform.Auth(ctx, other.ID, a)
	wantErr(t, err, errs.NotFound, "")
	_, err = env.Platform.Auth(ctx, uuid.Nil, a) // "any owner" is for the public links only
	wantErr(t, err, errs.NotFound, "")

	// The tables are A's own: B's database has none of A's rows.
	res, err := env.Platform.SQL(ctx, owner, b, `SELECT count(*) AS n FROM auth_users`)
	if err != nil || string(res.Rows) != `[{"n":0}]` {
		t.Fatalf("B's auth_users: %s %v", res.Rows, err)
	}
}

// TestAuthMagicLinksPerPlan: the free plan sends 10 magic links a day,
// then 429 with Retry-After until the day turns.
func TestAuthMagicLinksPerPlan(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	env := authEnv(t, clk.Now, nil)
	ctx := context.Background()
	_, a := projectAuth(t, env) // free
	for i := range 10 {
		ttl, err := a.SendMagicLink(ctx, fmt.Sprintf("u%d@example.com", i), "", nil, "")
		if err != nil || ttl != 15*time.Minute {
			t.Fatalf("link %d: %v %v", i+1, ttl, err)
		}
	}
	_, err := a.SendMagicLink(ctx, "u10@example.com", "", nil, "")
	e := wantErr(t, err, errs.RateLimited, "rate_limited")
	if e.RetryAfter <= 0 || e.RetryAfter > 24*time.Hour {
		t.Fatalf("Retry-After %v", e.RetryAfter)
	}
	for i := range 10 {
		env.WaitMail(t, fmt.Sprintf("u%d@example.com", i))
	}
	clk.Advance(24 * time.Hour)
	if _, err := a.SendMagicLink(ctx, "u10@example.com", "", nil, ""); err != nil {
		t.Fatalf("the next day: %v", err)
	}
}

// TestAuthThrottles: per-email and per-IP limits on login, reset and magic
// link; another email or address is not affected.
func TestAuthThrottles(t *testing.T) {
	t.Parallel()
	env := authEnv(t, nil, func(c *mosaic.Config) {
		c.AuthLimits = mosaic.AuthLimits{LoginPerEmail: 3, LoginPerIP: 5, ResetPerEmail: 2, ResetPerIP: 4, MagicLinkPerEmail: 2, MagicLinkPerIP: -1}
	})
	ctx := context.Background()
	_, a := projectAuth(t, env, func(n *mosaic.NewProject) { n.Plan = "pro" })
	for _, e := range []string{"f@example.com", "g@example.com"} {
		if _, err := a.Signup(ctx, mosaic.AuthNewUser{Email: e, Password: "password-1"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		_, err := a.Login(ctx, "f@example.com", "wrong-pass", "10.0.0.1")
		wantErr(t, err, errs.Unauthorized, "invalid_credentials")
	}
	_, err := a.Login(ctx, "F@example.com", "password-1", "10.0.0.2")
	if e := wantErr(t, err, errs.RateLimited, "rate_limited"); e.RetryAfter <= 0 {
		t.Fatal("no Retry-After")
	}
	// Another email from the first address: its 4th and 5th attempts pass, the 6th not.
	for range 2 {
		if _, err := a.Login(ctx, "g@example.com", "password-1", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = a.Login(ctx, "g@example.com", "password-1", "10.0.0.1")
	wantErr(t, err, errs.RateLimited, "rate_limited")
	if _, err := a.Login(ctx, "g@example.com", "password-1", "10.0.0.3"); err != nil {
		t.Fatalf("another address: %v", err)
	}

	// Reset: the same answer for a known and an unknown email, throttled alike.
	for _, e := range []string{"f@example.com", "nobody@example.com"} {
		for range 2 {
			if _, err := a.SendPasswordReset(ctx, e, "", "10.0.1.1"); err != nil {
				t.Fatal(err)
			}
		}
		_, err := a.SendPasswordReset(ctx, e, "", "10.0.1.2")
		wantErr(t, err, errs.RateLimited, "rate_limited")
	}
	_, err = a.SendPasswordReset(ctx, "g@example.com", "", "10.0.1.1")
	wantErr(t, err, errs.RateLimited, "rate_limited") // 4 per address, with the refused one counted
	for range 2 {
		if _, err := a.SendMagicLink(ctx, "h@example.com", "", nil, "10.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = a.SendMagicLink(ctx, "h@example.com", "", nil, "10.0.2.1")
	wantErr(t, err, errs.RateLimited, "rate_limited")
}

// TestAuthResetEnumeration: a reset for an unknown email answers like one
// for a known email, and leaves nothing behind (no token, so no mail).
func TestAuthResetEnumeration(t *testing.T) {
	t.Parallel()
	env := authEnv(t, nil, nil)
	ctx := context.Background()
	slug, a := projectAuth(t, env)
	if _, err := a.Signup(ctx, mosaic.AuthNewUser{Email: "known@example.com", Password: "password-1"}); err != nil {
		t.Fatal(err)
	}
	ttlUnknown, errUnknown := a.SendPasswordReset(ctx, "unknown@example.com", "https://app.example/r", "")
	ttlKnown, errKnown := a.SendPasswordReset(ctx, "known@example.com", "https://app.example/r", "")
	if errUnknown != nil || errKnown != nil || ttlUnknown != ttlKnown || ttlKnown != time.Hour {
		t.Fatalf("unknown: %v %v; known: %v %v", ttlUnknown, errUnknown, ttlKnown, errKnown)
	}
	m := env.WaitMail(t, "known@example.com")
	if m.Subject != "Reset your "+t.Name()+" password" {
		t.Fatalf("subject %q", m.Subject)
	}
	res, err := env.Platform.SQL(ctx, env.Account.ID, slug, `SELECT email FROM auth_tokens`)
	if err != nil || string(res.Rows) != `[{"email":"known@example.com"}]` {
		t.Fatalf("tokens: %s %v", res.Rows, err)
	}
	for _, m := range env.Mail() {
		if strings.Contains(strings.Join(m.To, ","), "unknown") {
			t.Fatal("a reset email went to an unknown address")
		}
	}
}

// TestAuthLinkExpiry moves the platform's clock past a magic link's 15
// minutes and a reset link's hour.
func TestAuthLinkExpiry(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	env := authEnv(t, clk.Now, nil)
	ctx := context.Background()
	slug, a := projectAuth(t, env)
	if _, err := a.Signup(ctx, mosaic.AuthNewUser{Email: "k@example.com", Password: "password-1"}); err != nil {
		t.Fatal(err)
	}
	a.SendMagicLink(ctx, "k@example.com", "", nil, "")
	_, magic, _ := mailedToken(t, env.WaitMail(t, "k@example.com"))
	a.SendPasswordReset(ctx, "k@example.com", "", "")
	_, reset, _ := mailedToken(t, env.WaitMail(t, "k@example.com"))

	clk.Advance(15*time.Minute + time.Second)
	_, _, err := env.Platform.VerifyMagicLink(ctx, slug, magic, "")
	wantErr(t, err, errs.Invalid, "expired_token")
	if _, err := env.Platform.CheckPasswordReset(ctx, slug, reset, ""); err != nil {
		t.Fatalf("reset link after 15 minutes: %v", err)
	}
	clk.Advance(45 * time.Minute)
	_, err = env.Platform.ConfirmPasswordReset(ctx, slug, reset, "password-2")
	wantErr(t, err, errs.Invalid, "expired_token")
	if _, err := a.Login(ctx, "k@example.com", "password-1", ""); err != nil {
		t.Fatal(err)
	}
	// A public link names an existing, active project.
	_, _, err = env.Platform.VerifyMagicLink(ctx, "no-such-project", magic, "")
	if !errors.Is(err, mosaic.ErrNotFound) {
		t.Fatalf("unknown project: %v", err)
	}
}

// syncBuffer is a log sink for tests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAuthLogMailer: with no Mailer configured, the embedded default writes
// the message, link included, to the platform's log (the development
// inbox), and that link works. Nothing else in the log holds a token or a
// hash: the link appears once, in the mailer's line.
func TestAuthLogMailer(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	env := authEnv(t, nil, func(c *mosaic.Config) {
		c.Mailer = nil
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	slug, a := projectAuth(t, env)
	if _, err := a.Signup(ctx, mosaic.AuthNewUser{Email: "log@example.com", Password: "password-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(ctx, "log@example.com", "password-1", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SendMagicLink(ctx, "log@example.com", "/home", nil, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	var token string
	for deadline := time.Now().Add(time.Minute); token == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if l := linkRE.FindString(strings.ReplaceAll(logs.String(), `\u0026`, "&")); l != "" {
			u, _ := url.Parse(l)
			token = u.Query().Get("token")
		}
	}
	if token == "" {
		t.Fatalf("no link in the log:\n%s", logs.String())
	}
	to, u, err := env.Platform.VerifyMagicLink(ctx, slug, token, "")
	if err != nil || !u.EmailVerified || !strings.HasSuffix(to, "verified=true") {
		t.Fatalf("%q %+v %v", to, u, err)
	}
	out := logs.String()
	if n := strings.Count(out, token); n != 1 {
		t.Fatalf("the token appears %d times in the log", n)
	}
	if strings.Contains(out, "$argon2") || strings.Contains(out, "password-1") {
		t.Fatalf("a password or hash in the log:\n%s", out)
	}
}

// TestAuthDeletedProject: after its project is deleted, its auth answers
// 404, through the API key and through its public links alike.
func TestAuthDeletedProject(t *testing.T) {
	t.Parallel()
	env := authEnv(t, nil, nil)
	ctx := context.Background()
	cp, err := env.Platform.CreateProject(ctx, env.Account.ID, mosaic.NewProject{Name: "short-lived"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := env.Platform.Auth(ctx, env.Account.ID, cp.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Signup(ctx, mosaic.AuthNewUser{Email: "gone@example.com", Password: "password-1"}); err != nil {
		t.Fatal(err)
	}
	a.SendMagicLink(ctx, "gone@example.com", "", nil, "")
	_, tok, _ := mailedToken(t, env.WaitMail(t, "gone@example.com"))
	if err := env.Platform.DeleteProject(ctx, env.Account.ID, cp.Slug); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(ctx, "gone@example.com", "password-1", ""); !errors.Is(err, mosaic.ErrNotFound) {
		t.Fatalf("login on a handle from before the delete: %v", err)
	}
	if _, err := env.Platform.Auth(ctx, env.Account.ID, cp.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Fatalf("auth: %v", err)
	}
	if _, _, err := env.Platform.VerifyMagicLink(ctx, cp.Slug, tok, ""); !errors.Is(err, mosaic.ErrNotFound) {
		t.Fatalf("verify: %v", err)
	}
}

// TestAuthDatabaseQuota: over the plan's database size, signups and profile
// updates are 402 "database_full" (as POST /sql writes are), while magic
// links, setting a password and logging in still work.
func TestAuthDatabaseQuota(t *testing.T) {
	t.Parallel()
	env := authEnv(t, nil, func(c *mosaic.Config) {
		c.Plans = mosaic.DefaultPlans()
		tiny := c.Plans["free"]
		tiny.Name, tiny.DatabaseBytes = "tiny", 1<<20 // an empty database is bigger
		c.Plans["tiny"] = tiny
	})
	ctx := context.Background()
	slug, a := projectAuth(t, env, func(n *mosaic.NewProject) { n.Plan = "tiny" })
	_, err := a.Signup(ctx, mosaic.AuthNewUser{Email: "new@example.com", Password: "password-1"})
	wantErr(t, err, errs.Quota, "database_full")

	if _, err := a.SendMagicLink(ctx, "m@example.com", "", nil, ""); err != nil {
		t.Fatal(err)
	}
	_, token, _ := mailedToken(t, env.WaitMail(t, "m@example.com"))
	_, u, err := env.Platform.VerifyMagicLink(ctx, slug, token, "")
	if err != nil {
		t.Fatalf("a magic link over quota: %v", err)
	}
	if _, err := a.SetPassword(ctx, u.ID, "password-1"); err != nil {
		t.Fatalf("set-password over quota: %v", err)
	}
	if _, err := a.Login(ctx, "m@example.com", "password-1", ""); err != nil {
		t.Fatalf("login over quota: %v", err)
	}
	name := "M"
	_, err = a.UpdateUser(ctx, u.ID, mosaic.AuthPatch{Name: &name})
	wantErr(t, err, errs.Quota, "database_full")
}
