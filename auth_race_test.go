package mosaic_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
)

// TestAuthRaces: what must happen once happens once when many ask at the
// same moment. 8 signups of one email: one user, the others 409. A reset
// link redeemed 8 times at once: one new password, the others refused. A
// magic link verified 8 times at once: one redirect with a code. That code
// exchanged 8 times at once: one user. No call fails with a server error.
func TestAuthRaces(t *testing.T) {
	t.Parallel()
	env := authEnv(t, nil, nil)
	ctx := context.Background()
	slug, a := projectAuth(t, env)
	// at runs f from 8 goroutines at once and returns how many succeeded;
	// every failure must be a 4xx kind.
	at := func(what string, f func() error) int {
		var ok atomic.Int64
		var start, wg sync.WaitGroup
		start.Add(1)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				err := f()
				if err == nil {
					ok.Add(1)
					return
				}
				if k := errs.As(err).Kind; k == errs.Internal || k == errs.Unavailable {
					t.Errorf("%s: %v", what, err)
				}
			}()
		}
		start.Done()
		wg.Wait()
		return int(ok.Load())
	}

	if n := at("signup", func() error {
		_, err := a.Signup(ctx, mosaic.AuthNewUser{Email: "race@example.com", Password: "password-0"})
		if err != nil && errs.As(err).Kind != errs.Conflict {
			t.Errorf("a losing signup: %v, want a conflict", err)
		}
		return err
	}); n != 1 {
		t.Fatalf("%d signups of one email succeeded", n)
	}
	if l, err := a.Users(ctx, mosaic.AuthList{}); err != nil || l.Total != 1 {
		t.Fatalf("users after the signups: %+v %v", l, err)
	}

	if _, err := a.SendPasswordReset(ctx, "race@example.com", "", ""); err != nil {
		t.Fatal(err)
	}
	_, reset, _ := mailedToken(t, env.WaitMail(t, "race@example.com"))
	var turn atomic.Int64
	var won atomic.Value
	if n := at("reset", func() error {
		pw := fmt.Sprintf("password-after-reset-%d", turn.Add(1))
		_, err := env.Platform.ConfirmPasswordReset(ctx, slug, reset, pw)
		if err == nil {
			won.Store(pw)
		}
		return err
	}); n != 1 {
		t.Fatalf("a reset link worked %d times", n)
	}
	// The password is the winner's, not a loser's written after it.
	if _, err := a.Login(ctx, "race@example.com", won.Load().(string), ""); err != nil {
		t.Errorf("login with the reset password: %v", err)
	}

	if _, err := a.SendMagicLink(ctx, "race@example.com", "", nil, ""); err != nil {
		t.Fatal(err)
	}
	_, magic, redirect := mailedToken(t, env.WaitMail(t, "race@example.com"))
	var to atomic.Value
	if n := at("magic link", func() error {
		dest, _, err := env.Platform.VerifyMagicLink(ctx, slug, magic, redirect)
		if err == nil {
			to.Store(dest)
		}
		return err
	}); n != 1 {
		t.Fatalf("a magic link worked %d times", n)
	}
	u, err := url.Parse(to.Load().(string))
	if err != nil {
		t.Fatal(err)
	}
	code := u.Query().Get("code")
	if code == "" {
		t.Skipf("the redirect carries no exchange code: %s", u)
	}
	if n := at("exchange", func() error { _, err := a.ExchangeCode(ctx, code); return err }); n != 1 {
		t.Fatalf("an exchange code worked %d times", n)
	}
}
