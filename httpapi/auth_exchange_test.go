package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// exchangeClock is the platform's clock in TestAuthExchangeFlowOverSMTP.
type exchangeClock struct{ ns atomic.Int64 }

func (c *exchangeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *exchangeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestAuthExchangeFlowOverSMTP: send-magic-link → a real SMTP server → a
// browser follows the link to the app, whose redirect carries user_id,
// verified=true and a one-time code → the app's server exchanges the code
// through the client for the right user. The code works once; a used,
// expired, tampered, malformed or other project's code is 401
// "invalid_code" with one and the same body; no response body or log line
// holds a code, a token or their hashes.
func TestAuthExchangeFlowOverSMTP(t *testing.T) {
	t.Parallel()
	clk := &exchangeClock{}
	clk.ns.Store(time.Now().UnixNano())
	logs := &lockedBuffer{}
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Auth.Params = authn.Params{Memory: 64, Time: 1, Threads: 1}
		c.Now = clk.Now
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}))
	ctx := context.Background()
	pa := env.Project(t, func(n *mosaic.NewProject) { n.Name = "Alpha" })
	pb := env.Project(t, func(n *mosaic.NewProject) { n.Name = "Beta" })
	ha, hb := newAuthHTTP(t, env, pa.Slug), newAuthHTTP(t, env, pb.Slug)
	hb.rec = ha.rec
	hb.hc.Transport = ha.rec
	hc := &http.Client{Transport: ha.rec}
	ca := client.New(env.BaseURL, env.APIKey, client.WithHTTPClient(hc)).Auth(pa.Slug)
	cb := client.New(env.BaseURL, env.APIKey, client.WithHTTPClient(hc)).Auth(pb.Slug)

	landed := make(chan url.Values, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/welcome" {
			landed <- r.URL.Query()
		}
		io.WriteString(w, "welcome")
	}))
	defer app.Close()

	var (
		mu      sync.Mutex
		secrets []string
	)
	// signIn sends a magic link to email on project c, follows it as a
	// browser does, and returns the query the app received.
	signIn := func(c *client.Auth, email string) url.Values {
		t.Helper()
		if _, err := c.SendMagicLink(ctx, email, app.URL+"/welcome?from=mail", ""); err != nil {
			t.Fatal(err)
		}
		link, token := linkIn(t, env.WaitMail(t, email))
		resp, err := hc.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("following the link: %d", resp.StatusCode)
		}
		q := <-landed
		if q.Get("verified") != "true" || q.Get("user_id") == "" || q.Get("from") != "mail" || len(q.Get("code")) != 43 {
			t.Fatalf("the app got %v", q)
		}
		mu.Lock()
		secrets = append(secrets, token, q.Get("code"))
		mu.Unlock()
		return q
	}
	// refused exchanges code on h's project and returns the 401's body,
	// which must be the same for every refused code.
	var refusedBody []byte
	refused := func(what string, h *authHTTP, code string) {
		t.Helper()
		a := h.call("POST", "exchange", `{"code": "`+code+`"}`, "")
		wantError(t, what, a, http.StatusUnauthorized, "invalid_code")
		if refusedBody == nil {
			refusedBody = a.body
		} else if !bytes.Equal(a.body, refusedBody) {
			t.Fatalf("%s: body %s differs from %s", what, a.body, refusedBody)
		}
	}

	// The flow: the code names the user who followed the link.
	q := signIn(ca, "ann@example.com")
	signIn(ca, "bob@example.com") // another user of the same project
	u, err := ca.ExchangeCode(ctx, q.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if u.ID.String() != q.Get("user_id") || u.Email != "ann@example.com" || !u.EmailVerified || u.LoginCount != 1 {
		t.Fatalf("exchanged for %+v, want the user %s", u, q.Get("user_id"))
	}
	a := ha.call("POST", "exchange", `{"code": "`+signIn(ca, "ann@example.com").Get("code")+`"}`, "")
	shape(t, "exchange", a, http.StatusOK, "success", "user")
	if got := userOf(t, a); got["id"] != q.Get("user_id") || got["email"] != "ann@example.com" {
		t.Fatalf("exchange answered %s", a.body)
	}

	// Once only, through the client as well.
	_, err = ca.ExchangeCode(ctx, q.Get("code"))
	if e := errs.As(err); err == nil || e.Kind != errs.Unauthorized || e.ErrorCode() != "invalid_code" {
		t.Fatalf("second exchange: %v", err)
	}
	refused("second exchange", ha, q.Get("code"))

	// Tampered, malformed, or a token of the wrong kind.
	q2 := signIn(ca, "ann@example.com")
	code2 := q2.Get("code")
	tampered := []byte(code2)
	tampered[10] = 'A'
	if code2[10] == 'A' {
		tampered[10] = 'B'
	}
	refused("tampered code", ha, string(tampered))
	refused("empty code", ha, "")
	refused("short code", ha, code2[:20])
	ca.SendMagicLink(ctx, "ann@example.com", app.URL+"/welcome", "")
	_, magicToken := linkIn(t, env.WaitMail(t, "ann@example.com"))
	secrets = append(secrets, magicToken)
	refused("a magic-link token", ha, magicToken)
	if _, err := client.New(env.BaseURL, "").Auth(pa.Slug).Verify(ctx, magicToken, ""); err != nil {
		t.Fatalf("the magic link after a failed exchange of its token: %v", err)
	}

	// Project B never issued code2: refused there, and B's refusal does not
	// use it up on A.
	if _, err := cb.Users(ctx, client.ListUsersOptions{}); err != nil { // B's tables exist
		t.Fatal(err)
	}
	refused("A's code on B", hb, code2)
	if u, err := ca.ExchangeCode(ctx, code2); err != nil || u.ID.String() != q2.Get("user_id") {
		t.Fatalf("code2 on A after the refusals: %+v %v", u, err)
	}
	// And B's own code does not work on A.
	qb := signIn(cb, "ann@example.com")
	refused("B's code on A", ha, qb.Get("code"))
	if u, err := cb.ExchangeCode(ctx, qb.Get("code")); err != nil || u.ID.String() != qb.Get("user_id") || u.ID.String() == q.Get("user_id") {
		t.Fatalf("B's code on B: %+v %v", u, err)
	}

	// The API key is required, and must be of the project's account.
	wantError(t, "no key", ha.call("POST", "exchange", `{"code": "x"}`, "-"), http.StatusUnauthorized, "missing_api_key")
	_, otherKey, _ := env.NewAccount(t)
	if a := ha.call("POST", "exchange", `{"code": "`+code2+`"}`, otherKey); a.status != http.StatusNotFound {
		t.Fatalf("another account's key: %d %s", a.status, a.body)
	}
	wantError(t, "bad json", ha.call("POST", "exchange", `{"code": 5}`, ""), http.StatusBadRequest, "invalid_type")

	// Expiry: 5 minutes by default. A code a second short of it works; one
	// past it is refused, and stays refused.
	q3, q4 := signIn(ca, "cat@example.com"), signIn(ca, "bob@example.com")
	clk.Advance(5*time.Minute - time.Second)
	if u, err := ca.ExchangeCode(ctx, q3.Get("code")); err != nil || u.Email != "cat@example.com" {
		t.Fatalf("a code just before expiry: %+v %v", u, err)
	}
	clk.Advance(2 * time.Second)
	refused("expired code", ha, q4.Get("code"))
	clk.Advance(-time.Hour) // even with the clock turned back: an expired code was deleted
	refused("expired code, again", ha, q4.Get("code"))

	ha.rec.scan(t, secrets...)
	logs.scan(t, secrets...)
}
