package mosaic_test

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
)

// TestAuthExchangeCode: the code in a magic link's redirect is exchanged
// once for its user, even by concurrent callers; its lifetime follows
// Config.Auth.ExchangeCodeTTL; it means nothing in another project, of the
// same account or another, and the password-reset links carry none.
func TestAuthExchangeCode(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	env := authEnv(t, clk.Now, func(c *mosaic.Config) { c.Auth.ExchangeCodeTTL = time.Minute })
	ctx := context.Background()
	slugA, slugB := env.Project(t).Slug, env.Project(t).Slug
	a, err := env.Platform.Auth(ctx, env.Account.ID, slugA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Platform.Auth(ctx, env.Account.ID, slugB)
	if err != nil {
		t.Fatal(err)
	}
	// signIn redeems a magic link of project slug and returns the redirect's query.
	signIn := func(au *mosaic.Auth, slug, email string) url.Values {
		t.Helper()
		if _, err := au.SendMagicLink(ctx, email, "https://app.example/in", nil, ""); err != nil {
			t.Fatal(err)
		}
		_, token, _ := mailedToken(t, env.WaitMail(t, email))
		to, u, err := env.Platform.VerifyMagicLink(ctx, slug, token, "")
		if err != nil {
			t.Fatal(err)
		}
		loc, err := url.Parse(to)
		if err != nil {
			t.Fatal(err)
		}
		q := loc.Query()
		if loc.Host != "app.example" || q.Get("user_id") != u.ID.String() || q.Get("verified") != "true" || len(q.Get("code")) != 43 || q.Get("code") == token {
			t.Fatalf("redirect %s", to)
		}
		return q
	}

	// Concurrent exchanges of one code: exactly one gets the user.
	q := signIn(a, slugA, "x@example.com")
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     int
		refused int
	)
	for range 8 {
		wg.Go(func() {
			u, err := a.ExchangeCode(ctx, q.Get("code"))
			mu.Lock()
			defer mu.Unlock()
			switch e := errs.As(err); {
			case err == nil && u.ID.String() == q.Get("user_id"):
				won++
			case err != nil && e.Kind == errs.Unauthorized && e.ErrorCode() == "invalid_code":
				refused++
			default:
				t.Errorf("exchange: %+v %v", u, err)
			}
		})
	}
	wg.Wait()
	if won != 1 || refused != 7 {
		t.Fatalf("%d exchanges won, %d refused; want 1 and 7", won, refused)
	}

	// The configured lifetime (a minute here, instead of 5).
	q1, q2 := signIn(a, slugA, "x@example.com"), signIn(a, slugA, "y@example.com")
	clk.Advance(59 * time.Second)
	if u, err := a.ExchangeCode(ctx, q1.Get("code")); err != nil || u.Email != "x@example.com" {
		t.Fatalf("before expiry: %+v %v", u, err)
	}
	clk.Advance(time.Second)
	_, err = a.ExchangeCode(ctx, q2.Get("code"))
	wantErr(t, err, errs.Unauthorized, "invalid_code")

	// Other projects: B (same account) does not know A's code, and another
	// account cannot reach A at all; A's code still works afterwards.
	q3 := signIn(a, slugA, "z@example.com")
	_, err = b.ExchangeCode(ctx, q3.Get("code"))
	wantErr(t, err, errs.Unauthorized, "invalid_code")
	other, _, _ := env.NewAccount(t)
	if _, err := env.Platform.Auth(ctx, other.ID, slugA); err == nil {
		t.Fatal("another account reached A's auth")
	}
	qb := signIn(b, slugB, "z@example.com")
	_, err = a.ExchangeCode(ctx, qb.Get("code"))
	wantErr(t, err, errs.Unauthorized, "invalid_code")
	if u, err := a.ExchangeCode(ctx, q3.Get("code")); err != nil || u.ID.String() != q3.Get("user_id") {
		t.Fatalf("A's code on A: %+v %v", u, err)
	}
	if u, err := b.ExchangeCode(ctx, qb.Get("code")); err != nil || u.ID.String() != qb.Get("user_id") || u.ID.String() == q3.Get("user_id") {
		t.Fatalf("B's code on B: %+v %v", u, err)
	}

	// A password-reset link leads to ?token= only: no exchange code.
	if _, err := a.SendPasswordReset(ctx, "z@example.com", "https://app.example/reset", ""); err != nil {
		t.Fatal(err)
	}
	_, reset, _ := mailedToken(t, env.WaitMail(t, "z@example.com"))
	to, err := env.Platform.CheckPasswordReset(ctx, slugA, reset, "")
	if err != nil {
		t.Fatal(err)
	}
	if loc, _ := url.Parse(to); loc.Query().Has("code") {
		t.Fatalf("reset redirect %s", to)
	}
	// Nor is a reset token an exchange code.
	_, err = a.ExchangeCode(ctx, reset)
	wantErr(t, err, errs.Unauthorized, "invalid_code")
}
