// Package webhook delivers Mosaic events (pushes now, deployments later) to
// the URLs a project registered, as signed JSON POSTs, asynchronously and with
// retries.
//
// # Request
//
//	POST <hook URL>
//	Content-Type: application/json
//	User-Agent: Mosaic-Webhook/1
//	X-Mosaic-Event: push
//	X-Mosaic-Delivery: <event id, the same on every attempt: deduplicate on it>
//	X-Mosaic-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the hook's secret>
//
// with the body a Payload:
//
//	{"id": "evt_…", "event": "push", "project": "myapp-x4k2",
//	 "created_at": "2026-02-01T12:00:00Z",
//	 "data": {"source": "http", "updates": [
//	   {"ref": "refs/heads/main", "before": "<40 hex>", "after": "<40 hex>"}]}}
//
// A receiver must compute the HMAC over the raw body bytes, before parsing,
// and compare in constant time (Verify does both).
//
// # Delivery
//
// A 2xx answer is success. Network errors, 5xx, 408 and 429 are retried
// with exponential backoff (BaseBackoff, doubled each time, with jitter,
// capped at MaxBackoff) up to MaxAttempts attempts in all; any other answer
// (including redirects, which are not followed) ends the delivery as
// failed. Deliveries are at least once: a receiver that answers too late may
// see an event again, with the same X-Mosaic-Delivery.
//
// By default the client refuses to connect to loopback, private, link-local
// and other non-public addresses (checked on the resolved IP, at dial time),
// so a tenant cannot aim hooks at the platform's own network; set
// AllowPrivate in tests and closed deployments.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
)

// Event names.
const (
	EventPush = "push"
)

// Hook is one registered receiver.
type Hook struct {
	ID      string   `json:"id"`
	Project string   `json:"project"`
	URL     string   `json:"url"`
	Secret  string   `json:"-"`                // HMAC key; never shown after creation
	Events  []string `json:"events,omitempty"` // empty: every event
}

// Store finds the hooks of a project. MemStore is an in-memory one; the
// platform backs it with its control database.
type Store interface {
	Hooks(ctx context.Context, project string) ([]Hook, error)
}

// Payload is the JSON body of every delivery.
type Payload struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	Project   string          `json:"project"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// PushData is the data of a "push" event.
type PushData struct {
	Source  string       `json:"source"` // "http" (git push) or "api" (a file written through the API)
	Updates []PushUpdate `json:"updates"`
}

// PushUpdate is one ref a push changed; Before is all zeros for a created
// ref, After all zeros for a deleted one.
type PushUpdate struct {
	Ref    string `json:"ref"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Delivery is the outcome of delivering one event to one hook.
type Delivery struct {
	EventID  string
	Event    string
	Project  string
	HookID   string
	URL      string
	Attempts int
	Status   int   // last HTTP status, 0 if none
	Err      error // nil on success
}

// Config configures Webhooks. Store is required.
type Config struct {
	Store Store
	// Client sends the requests (default: 10 s timeout, no redirects, no
	// proxy, and a dialer that refuses non-public addresses unless
	// AllowPrivate).
	Client       *http.Client
	AllowPrivate bool
	// MaxAttempts bounds attempts per hook and event (default 6).
	MaxAttempts int
	// BaseBackoff is the wait before the first retry (default 1 s); it
	// doubles on each retry up to MaxBackoff (default 5 min).
	BaseBackoff, MaxBackoff time.Duration
	// MaxConcurrent bounds requests in flight (default 16).
	MaxConcurrent int
	// OnDelivery, if set, is called once per hook and event with the final
	// outcome (to record a delivery log).
	OnDelivery func(Delivery)
	Logger     *slog.Logger
}

// Webhooks delivers events. Build it with New; stop it with Close.
type Webhooks struct {
	cfg    Config
	sem    chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
}

// New checks cfg and fills in defaults. It does no I/O.
func New(cfg Config) (*Webhooks, error) {
	if cfg.Store == nil {
		return nil, errs.New(errs.Invalid, "invalid_config", "webhook: Config.Store is required")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = newClient(cfg.AllowPrivate)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Webhooks{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent), ctx: ctx, cancel: cancel}, nil
}

func newClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if !publicAddr(ap.Addr()) {
				return fmt.Errorf("webhook: refusing to connect to non-public address %s", ap.Addr())
			}
			return nil
		}
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}

// ValidateURL checks a hook URL: absolute http or https with a host, no
// credentials. It does not resolve the host (the dialer checks addresses).
func ValidateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(raw) > 2048 {
		return errs.New(errs.Invalid, "invalid_webhook_url", "webhook URL must be an absolute http or https URL without credentials, at most 2048 bytes")
	}
	return nil
}

// Sign returns the X-Mosaic-Signature value of body: "sha256=" and the hex
// HMAC-SHA256 of body keyed with secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports, in constant time, whether header is the signature of body.
func Verify(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// Send delivers an event to every hook of the project that wants it, in the
// background. It returns once the deliveries are queued; the error is only
// for data that does not marshal or a Store failure.
func (w *Webhooks) Send(ctx context.Context, project, event string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return errs.Internalf(err, "webhook: marshal %s data", event)
	}
	hooks, err := w.cfg.Store.Hooks(ctx, project)
	if err != nil {
		return err
	}
	p := Payload{ID: "evt_" + randHex(12), Event: event, Project: project, CreatedAt: time.Now().UTC().Truncate(time.Second), Data: raw}
	body, err := json.Marshal(p)
	if err != nil {
		return errs.Internalf(err, "webhook: marshal payload")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errs.New(errs.Unavailable, "webhooks_closed", "webhook delivery is shut down")
	}
	for _, h := range hooks {
		if len(h.Events) > 0 && !slices.Contains(h.Events, event) {
			continue
		}
		w.wg.Add(1)
		go w.deliver(h, p, body)
	}
	return nil
}

// OnPush sends a gitpush.PushEvent as a "push" event. Subscribe it with
// local.OnPush(hooks.OnPush).
func (w *Webhooks) OnPush(ctx context.Context, ev gitpush.PushEvent) {
	d := PushData{Source: ev.Source, Updates: make([]PushUpdate, len(ev.Updates))}
	for i, u := range ev.Updates {
		d.Updates[i] = PushUpdate{Ref: u.Ref, Before: u.Old, After: u.New}
	}
	if err := w.Send(ctx, ev.Project, EventPush, d); err != nil {
		w.cfg.Logger.ErrorContext(ctx, "webhook: send push event", "project", ev.Project, "error", err)
	}
}

// Close stops new deliveries, cancels pending retries and waits for the
// deliveries to end, or for ctx.
func (w *Webhooks) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errStop marks an answer that is not worth retrying.
var errStop = errors.New("not retried")

func (w *Webhooks) deliver(h Hook, p Payload, body []byte) {
	defer w.wg.Done()
	d := Delivery{EventID: p.ID, Event: p.Event, Project: p.Project, HookID: h.ID, URL: h.URL}
	sig := Sign(h.Secret, body)
	backoff := w.cfg.BaseBackoff
	for {
		d.Attempts++
		d.Status, d.Err = w.attempt(h.URL, p, body, sig)
		if d.Err == nil || errors.Is(d.Err, errStop) || d.Attempts >= w.cfg.MaxAttempts {
			break
		}
		wait := backoff/2 + time.Duration(mrand.Int64N(int64(backoff/2)+1)) // jitter in [b/2, b]
		backoff = min(backoff*2, w.cfg.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			d.Err = fmt.Errorf("webhook: delivery cancelled after %d attempts: %w", d.Attempts, d.Err)
			w.finish(d)
			return
		}
	}
	w.finish(d)
}

func (w *Webhooks) finish(d Delivery) {
	if d.Err != nil {
		w.cfg.Logger.Warn("webhook: delivery failed", "project", d.Project, "hook", d.HookID, "event", d.EventID, "attempts", d.Attempts, "status", d.Status, "error", d.Err)
	}
	if w.cfg.OnDelivery != nil {
		w.cfg.OnDelivery(d)
	}
}

func (w *Webhooks) attempt(target string, p Payload, body []byte, sig string) (int, error) {
	select {
	case w.sem <- struct{}{}:
		defer func() { <-w.sem }()
	case <-w.ctx.Done():
		return 0, w.ctx.Err()
	}
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errStop, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Mosaic-Webhook/1")
	req.Header.Set("X-Mosaic-Event", p.Event)
	req.Header.Set("X-Mosaic-Delivery", p.ID)
	req.Header.Set("X-Mosaic-Signature", sig)
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return s, nil
	case s >= 500 || s == http.StatusRequestTimeout || s == http.StatusTooManyRequests:
		return s, fmt.Errorf("webhook: receiver answered %d", s)
	default:
		return s, fmt.Errorf("%w: receiver answered %d", errStop, s)
	}
}

// MemStore is an in-memory Store. The zero value is ready to use.
type MemStore struct {
	mu    sync.Mutex
	hooks map[string][]Hook
}

// Add registers h (its URL validated), giving it an ID if it has none, and
// returns it.
func (m *MemStore) Add(h Hook) (Hook, error) {
	if err := ValidateURL(h.URL); err != nil {
		return Hook{}, err
	}
	if h.Secret == "" {
		return Hook{}, errs.New(errs.Invalid, "invalid_webhook_secret", "a webhook needs a secret")
	}
	if h.ID == "" {
		h.ID = "hook_" + randHex(8)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hooks == nil {
		m.hooks = map[string][]Hook{}
	}
	m.hooks[h.Project] = append(m.hooks[h.Project], h)
	return h, nil
}

// Remove deletes a hook; removing a missing one is not an error.
func (m *MemStore) Remove(project, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hooks[project] = slices.DeleteFunc(m.hooks[project], func(h Hook) bool { return h.ID == id })
}

// Hooks implements Store.
func (m *MemStore) Hooks(_ context.Context, project string) ([]Hook, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.hooks[project]), nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
