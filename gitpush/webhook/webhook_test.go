package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
	"github.com/mosaic-platform/mosaic/gitpush/webhook"
)

// receiver is a webhook endpoint that verifies signatures and can fail its
// first attempts.
type receiver struct {
	t      *testing.T
	secret string
	fail   int // answer 503 to this many requests first

	mu       sync.Mutex
	requests int
	accepted []webhook.Payload
	ids      map[string]int // deliveries accepted per X-Mosaic-Delivery
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if !webhook.Verify(rc.secret, body, r.Header.Get("X-Mosaic-Signature")) {
		rc.t.Errorf("bad signature %q", r.Header.Get("X-Mosaic-Signature"))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rc.requests <= rc.fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		rc.t.Errorf("payload: %v", err)
	}
	if p.ID != r.Header.Get("X-Mosaic-Delivery") || p.Event != r.Header.Get("X-Mosaic-Event") {
		rc.t.Errorf("headers do not match payload %+v", p)
	}
	if rc.ids == nil {
		rc.ids = map[string]int{}
	}
	rc.ids[p.ID]++
	rc.accepted = append(rc.accepted, p)
	w.WriteHeader(http.StatusNoContent)
}

func newHooks(t *testing.T, store webhook.Store, done chan webhook.Delivery) *webhook.Webhooks {
	w, err := webhook.New(webhook.Config{Store: store, AllowPrivate: true, BaseBackoff: time.Millisecond, MaxAttempts: 4,
		OnDelivery: func(d webhook.Delivery) { done <- d }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

// A real PutFile's push event reaches a receiver that checks the signature.
func TestPushEventSigned(t *testing.T) {
	t.Parallel()
	rc := &receiver{t: t, secret: "whsec-1"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var store webhook.MemStore
	if _, err := store.Add(webhook.Hook{Project: "hook-test", URL: srv.URL + "/hook", Secret: rc.secret}); err != nil {
		t.Fatal(err)
	}
	// A hook for other events only, and one with another secret for another project.
	if _, err := store.Add(webhook.Hook{Project: "hook-test", URL: srv.URL + "/other", Secret: "x", Events: []string{"deploy"}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan webhook.Delivery, 10)
	hooks := newHooks(t, &store, done)

	l, err := gitpush.New(gitpush.Config{Dir: filepath.Join(t.TempDir(), "repos")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	l.OnPush(hooks.OnPush)
	if err := l.Create(t.Context(), "hook-test"); err != nil {
		t.Fatal(err)
	}
	c, err := l.PutFile(t.Context(), "hook-test", gitpush.File{Path: "a", Content: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	d := <-done
	if d.Err != nil || d.Attempts != 1 || d.Status != http.StatusNoContent {
		t.Fatalf("delivery %+v", d)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.accepted) != 1 {
		t.Fatalf("%d payloads", len(rc.accepted))
	}
	p := rc.accepted[0]
	var data webhook.PushData
	if err := json.Unmarshal(p.Data, &data); err != nil {
		t.Fatal(err)
	}
	want := webhook.PushUpdate{Ref: "refs/heads/main", Before: gitpush.ZeroID, After: c.SHA}
	if p.Event != "push" || p.Project != "hook-test" || data.Source != "api" || len(data.Updates) != 1 || data.Updates[0] != want {
		t.Fatalf("payload %+v data %+v", p, data)
	}
}

// A receiver that fails twice gets the event exactly once, on the third attempt.
func TestRetriedUntilAccepted(t *testing.T) {
	t.Parallel()
	rc := &receiver{t: t, secret: "whsec-2", fail: 2}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var store webhook.MemStore
	store.Add(webhook.Hook{Project: "p1", URL: srv.URL, Secret: rc.secret})
	done := make(chan webhook.Delivery, 10)
	hooks := newHooks(t, &store, done)
	if err := hooks.Send(t.Context(), "p1", "push", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	d := <-done
	if d.Err != nil || d.Attempts != 3 {
		t.Fatalf("delivery %+v", d)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.requests != 3 || len(rc.accepted) != 1 || rc.ids[d.EventID] != 1 {
		t.Fatalf("requests %d, accepted %d, ids %v", rc.requests, len(rc.accepted), rc.ids)
	}
}

// A receiver that keeps failing gets MaxAttempts attempts; a 4xx stops at once.
func TestGivesUp(t *testing.T) {
	t.Parallel()
	rc := &receiver{t: t, secret: "s", fail: 100}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	var store webhook.MemStore
	store.Add(webhook.Hook{ID: "failing", Project: "p1", URL: srv.URL, Secret: "s"})
	store.Add(webhook.Hook{ID: "gone", Project: "p1", URL: gone.URL, Secret: "s"})
	done := make(chan webhook.Delivery, 10)
	hooks := newHooks(t, &store, done)
	if err := hooks.Send(t.Context(), "p1", "push", nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		d := <-done
		switch d.HookID {
		case "failing":
			if d.Err == nil || d.Attempts != 4 || d.Status != 503 {
				t.Errorf("failing: %+v", d)
			}
		case "gone":
			if d.Err == nil || d.Attempts != 1 || d.Status != 410 {
				t.Errorf("gone: %+v", d)
			}
		}
	}
}

// By default, hooks cannot reach loopback addresses.
func TestPrivateAddressRefused(t *testing.T) {
	t.Parallel()
	rc := &receiver{t: t, secret: "s"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var store webhook.MemStore
	store.Add(webhook.Hook{Project: "p1", URL: srv.URL, Secret: "s"})
	done := make(chan webhook.Delivery, 1)
	hooks, err := webhook.New(webhook.Config{Store: &store, MaxAttempts: 1, OnDelivery: func(d webhook.Delivery) { done <- d }})
	if err != nil {
		t.Fatal(err)
	}
	defer hooks.Close(context.Background())
	hooks.Send(t.Context(), "p1", "push", nil)
	if d := <-done; d.Err == nil {
		t.Fatalf("delivery to loopback succeeded: %+v", d)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.requests != 0 {
		t.Fatalf("receiver got %d requests", rc.requests)
	}
}

func TestSignVector(t *testing.T) {
	// echo -n '{"a":1}' | openssl dgst -sha256 -hmac secret
	const want = "sha256=aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494"
	got := webhook.Sign("secret", []byte(`{"a":1}`))
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !webhook.Verify("secret", []byte(`{"a":1}`), got) || webhook.Verify("secret", []byte(`{"a":2}`), got) {
		t.Fatal("Verify disagrees with Sign")
	}
	for _, u := range []string{"ftp://x", "/relative", "http://user:pw@host/", "http://"} {
		if err := webhook.ValidateURL(u); !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("%q: %v", u, err)
		}
	}
}
