package authn_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
	"github.com/mosaic-platform/mosaic/sqlexec"
)

func TestMain(m *testing.M) { mosaictest.Main(m) }

// cheap are argon2id parameters for tests of logic, not of cost.
var cheap = authn.Params{Memory: 64, Time: 1, Threads: 1}

// clock is a test clock that tests move.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// tenantDB makes a fresh project and returns a pool on its database as the
// project's own role, made the way the platform makes it (sqlexec), plus an
// admin-free pool for looking at the tables as the tenant would.
func tenantDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	env := mosaictest.New(t)
	cp := env.Project(t)
	ctx := context.Background()
	cr, err := env.Platform.Credentials(ctx, env.Account.ID, cp.Slug)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sqlexec.New(sqlexec.Config{Servers: []sqlexec.Server{{Name: "main", AdminURL: env.DatabaseURL}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	pool, err := cl.Pool(ctx, sqlexec.Credentials{Server: "main", Host: cr.Host, Port: cr.Port, Database: cr.Database, User: cr.User, Password: cr.Password})
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

func newService(t *testing.T, c *clock, p authn.Params) *authn.Service {
	t.Helper()
	s, err := authn.New(authn.Config{Params: p, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantCode(t *testing.T, err error, kind errs.Kind, code string) {
	t.Helper()
	e := errs.As(err)
	if err == nil || e.Kind != kind || e.ErrorCode() != code {
		t.Fatalf("error %v (kind %v, code %q); want %v %q", err, e.Kind, e.ErrorCode(), kind, code)
	}
}

// TestAuthConcurrentInit starts eight services (as eight processes would
// be) on a fresh database at once: the tables are made exactly once.
func TestAuthConcurrentInit(t *testing.T) {
	t.Parallel()
	pool := tenantDB(t)
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		applied atomic.Int32
		errc    = make(chan error, 8)
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newService(t, newClock(), cheap)
			if i%2 == 0 { // half of them get there through first use
				_, err := s.For(pool).Users(ctx, authn.ListOptions{})
				errc <- err
				return
			}
			r, err := s.For(pool).Init(ctx)
			if err == nil {
				applied.Add(int32(len(r.Applied)))
				if r.Version != authn.SchemaVersion {
					err = errors.New("wrong version")
				}
			}
			errc <- err
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	var versions, tables int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM public.auth_schema_migrations),
		(SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('auth_users', 'auth_tokens'))`).Scan(&versions, &tables); err != nil {
		t.Fatal(err)
	}
	if versions != authn.SchemaVersion || tables != 2 {
		t.Fatalf("%d migration rows, %d tables", versions, tables)
	}
	// A later Init applies nothing.
	r, err := newService(t, newClock(), cheap).For(pool).Init(ctx)
	if err != nil || len(r.Applied) != 0 {
		t.Fatalf("second init: %+v %v", r, err)
	}
}

// TestAuthTablesComeBack: a tenant that drops the auth tables gets them
// back on the next call, even from a process that had already made them.
func TestAuthTablesComeBack(t *testing.T) {
	t.Parallel()
	pool := tenantDB(t)
	ctx := context.Background()
	s := newService(t, newClock(), cheap)
	a := s.For(pool)
	if _, err := a.Signup(ctx, authn.NewUser{Email: "a@example.com", Password: "password-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DROP TABLE public.auth_tokens, public.auth_users`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Signup(ctx, authn.NewUser{Email: "a@example.com", Password: "password-1"}); err != nil {
		t.Fatalf("after the tenant dropped the tables: %v", err)
	}
}

// TestAuthSchemaQualified: the tenant shadows lower() with its own function
// and puts its schema before pg_catalog in its role's search_path; on a
// pool that does not pin search_path (the platform's does), the package's
// queries still call pg_catalog's functions.
func TestAuthSchemaQualified(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	cp := env.Project(t)
	ctx := context.Background()
	cr, err := env.Platform.Credentials(ctx, env.Account.ID, cp.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Platform.SQL(ctx, env.Account.ID, cp.Slug, `CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql AS 'SELECT ''hijacked''';
		DO $$ BEGIN EXECUTE format('ALTER ROLE %I SET search_path = public, pg_catalog', current_user); END $$`); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, cr.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var sp, low string
	pool.QueryRow(ctx, `SELECT current_setting('search_path'), lower('X')`).Scan(&sp, &low)
	if low != "hijacked" {
		t.Fatalf("the shadowing did not take (search_path %q, lower %q): the test proves nothing", sp, low)
	}
	a := newService(t, newClock(), cheap).For(pool)
	if _, err := a.Signup(ctx, authn.NewUser{Email: "b@example.com", Password: "password-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(ctx, "B@example.com", "password-1"); err != nil {
		t.Fatalf("login: %v", err)
	}
	_, err = a.Login(ctx, "someone-else@example.com", "password-1")
	wantCode(t, err, errs.Unauthorized, "invalid_credentials")
}

func TestAuthPasswordsAndLogin(t *testing.T) {
	t.Parallel()
	pool := tenantDB(t)
	ctx := context.Background()
	c := newClock()
	a := newService(t, c, cheap).For(pool)

	name := "Alice"
	u, err := a.Signup(ctx, authn.NewUser{Email: " Alice@Example.COM ", Password: "securepass123", Name: &name, Metadata: []byte(`{"plan":"x"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "Alice@example.com" || !u.HasPassword || u.EmailVerified || u.LoginCount != 0 || *u.Name != "Alice" || string(u.Metadata) != `{"plan": "x"}` {
		t.Fatalf("user %+v (metadata %s)", u, u.Metadata)
	}
	_, err = a.Signup(ctx, authn.NewUser{Email: "alice@example.com", Password: "securepass123"})
	wantCode(t, err, errs.Conflict, "user_exists")
	_, err = a.Signup(ctx, authn.NewUser{Email: "bob@example.com", Password: "short"})
	wantCode(t, err, errs.Invalid, "password_too_short")

	for i := 1; i <= 2; i++ {
		c.Advance(time.Minute)
		got, err := a.Login(ctx, "ALICE@example.com", "securepass123")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != u.ID || got.LoginCount != int64(i) || got.LastLoginAt == nil || !got.LastLoginAt.Equal(c.Now()) {
			t.Fatalf("login %d: %+v", i, got)
		}
	}
	_, err = a.Login(ctx, "alice@example.com", "wrongpass123")
	wantCode(t, err, errs.Unauthorized, "invalid_credentials")
	_, err = a.Login(ctx, "nobody@example.com", "securepass123")
	wantCode(t, err, errs.Unauthorized, "invalid_credentials")

	// change-password: the current one is checked; the old stops working.
	_, err = a.ChangePassword(ctx, u.ID, "wrongpass123", "newpass123")
	wantCode(t, err, errs.Unauthorized, "invalid_credentials")
	if _, err := a.ChangePassword(ctx, u.ID, "securepass123", "newpass123"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(ctx, "alice@example.com", "securepass123"); err == nil {
		t.Fatal("the old password still works")
	}
	if _, err := a.Login(ctx, "alice@example.com", "newpass123"); err != nil {
		t.Fatal(err)
	}
}

// TestAuthHashUpgrades: a bcrypt import and a hash with lower parameters
// are replaced at login by an argon2id hash with the current parameters.
func TestAuthHashUpgrades(t *testing.T) {
	t.Parallel()
	pool := tenantDB(t)
	ctx := context.Background()
	old := newService(t, newClock(), cheap).For(pool)
	if _, err := old.Signup(ctx, authn.NewUser{Email: "low@example.com", Password: "password-1"}); err != nil {
		t.Fatal(err)
	}
	b, _ := bcrypt.GenerateFromPassword([]byte("imported-1"), bcrypt.MinCost)
	if _, err := pool.Exec(ctx, `INSERT INTO auth_users (id, email, password_hash) VALUES (gen_random_uuid(), 'imported@example.com', $1)`, string(b)); err != nil {
		t.Fatal(err)
	}
	raised := authn.Params{Memory: 128, Time: 2, Threads: 1}
	a := newService(t, newClock(), raised).For(pool)
	hashOf := func(email string) string {
		var h string
		if err := pool.QueryRow(ctx, `SELECT password_hash FROM auth_users WHERE email = $1`, email).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	for email, pw := range map[string]string{"low@example.com": "password-1", "imported@example.com": "imported-1"} {
		if _, err := a.Login(ctx, email, pw); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		if h := hashOf(email); !strings.HasPrefix(h, "$argon2id$v=19$m=128,t=2,p=1$") {
			t.Fatalf("%s: hash not upgraded: %.30s", email, h)
		}
		if _, err := a.Login(ctx, email, pw); err != nil {
			t.Fatalf("%s after upgrade: %v", email, err)
		}
	}
}

func TestAuthTokenLifecycle(t *testing.T) {
	t.Parallel()
	pool := tenantDB(t)
	ctx := context.Background()
	c := newClock()
	a := newService(t, c, cheap).For(pool)
	const to = "https://app.example/reset"
	u, err := a.Signup(ctx, authn.NewUser{Email: "carol@example.com", Password: "password-1"})
	if err != nil {
		t.Fatal(err)
	}
	// Unknown email: no token, no error.
	if p, err := a.RequestReset(ctx, "nobody@example.com", to); p != nil || err != nil {
		t.Fatalf("reset for an unknown email: %v %v", p, err)
	}

	// Only the hash is stored.
	p, err := a.RequestReset(ctx, "Carol@example.com", to)
	if err != nil || p == nil || len(p.Token) != 43 {
		t.Fatalf("%v %v", p, err)
	}
	sum := sha256.Sum256([]byte(p.Token))
	var stored, plain int
	pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM auth_tokens WHERE token_hash = $1),
		(SELECT count(*) FROM auth_tokens t WHERE position($2 in t::text) > 0 OR position($2 in encode(t.token_hash, 'escape')) > 0)`, sum[:], p.Token).Scan(&stored, &plain)
	if stored != 1 || plain != 0 {
		t.Fatalf("%d rows hold the token's SHA-256, %d the token itself", stored, plain)
	}

	// Tampering: one character changed.
	flip := byte('A')
	if p.Token[10] == 'A' {
		flip = 'B'
	}
	tampered := p.Token[:10] + string(flip) + p.Token[11:]
	_, err = a.CheckReset(ctx, tampered, "")
	wantCode(t, err, errs.Invalid, "invalid_token")
	_, err = a.ConfirmReset(ctx, tampered, "password-2")
	wantCode(t, err, errs.Invalid, "invalid_token")
	// A reset token is no magic link.
	_, _, err = a.VerifyMagicLink(ctx, p.Token, "")
	wantCode(t, err, errs.Invalid, "invalid_token")
	// The redirect must be the one the token was issued for.
	_, err = a.CheckReset(ctx, p.Token, "https://evil.example/")
	wantCode(t, err, errs.Invalid, "redirect_mismatch")

	loc, err := a.CheckReset(ctx, p.Token, to)
	if err != nil || loc != to+"?token="+p.Token {
		t.Fatalf("check: %q %v", loc, err)
	}
	if _, err := a.ConfirmReset(ctx, p.Token, "password-2"); err != nil {
		t.Fatal(err)
	}
	// Reuse.
	_, err = a.ConfirmReset(ctx, p.Token, "password-3")
	wantCode(t, err, errs.Invalid, "invalid_token")
	if _, err := a.Login(ctx, "carol@example.com", "password-2"); err != nil {
		t.Fatal(err)
	}

	// Expiry: an hour by default, on the injected clock.
	p, _ = a.RequestReset(ctx, "carol@example.com", to)
	c.Advance(59 * time.Minute)
	if _, err := a.CheckReset(ctx, p.Token, ""); err != nil {
		t.Fatalf("59 minutes: %v", err)
	}
	c.Advance(time.Minute)
	_, err = a.ConfirmReset(ctx, p.Token, "password-3")
	wantCode(t, err, errs.Invalid, "expired_token")

	// A password change kills pending tokens, reset and magic link alike.
	p1, _ := a.RequestReset(ctx, "carol@example.com", to)
	m1, _ := a.RequestMagicLink(ctx, "carol@example.com", nil, to)
	if _, err := a.SetPassword(ctx, u.ID, "password-4"); err != nil {
		t.Fatal(err)
	}
	_, err = a.ConfirmReset(ctx, p1.Token, "password-5")
	wantCode(t, err, errs.Invalid, "invalid_token")
	_, _, err = a.VerifyMagicLink(ctx, m1.Token, "")
	wantCode(t, err, errs.Invalid, "invalid_token")

	// Magic link: 15 minutes.
	m2, _ := a.RequestMagicLink(ctx, "carol@example.com", nil, to)
	c.Advance(15 * time.Minute)
	_, _, err = a.VerifyMagicLink(ctx, m2.Token, "")
	wantCode(t, err, errs.Invalid, "expired_token")
}

// TestAuthMagicLinkOnce: eight concurrent redemptions of one link, one wins;
// the link creates the user, verified, with the name given.
func TestAuthMagicLinkOnce(t *testing.T) {
	t.Parallel()
	pool := tenantDB(t)
	ctx := context.Background()
	a := newService(t, newClock(), cheap).For(pool)
	name := "Dana"
	p, err := a.RequestMagicLink(ctx, "dana@example.com", &name, "https://app.example/in?x=1")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		wins atomic.Int32
		locs = make(chan string, 8)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, loc, err := a.VerifyMagicLink(ctx, p.Token, "https://app.example/in?x=1")
			if err == nil {
				wins.Add(1)
				locs <- loc
				if !u.EmailVerified || u.LoginCount != 1 || u.HasPassword || *u.Name != "Dana" {
					t.Errorf("user %+v", u)
				}
			} else if errs.As(err).ErrorCode() != "invalid_token" {
				t.Errorf("loser: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d redemptions succeeded", wins.Load())
	}
	loc := <-locs
	if !strings.HasPrefix(loc, "https://app.example/in?") || !strings.Contains(loc, "verified=true") || !strings.Contains(loc, "user_id=") || !strings.Contains(loc, "x=1") {
		t.Fatalf("redirect %q", loc)
	}
}
