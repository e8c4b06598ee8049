// Package client is a typed Go client for Mosaic's REST API.
//
// Every method takes a context and returns the platform's own error type,
// *errs.Error, so errors.Is(err, mosaic.ErrNotFound) works the same against a
// remote server as in-process. Only idempotent calls (GET, DELETE) are
// retried, and only on connection errors and 502/503/504.
//
//	c := client.New("http://127.0.0.1:8080/v1/project", key)
//	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "My App"})
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
)

// Client calls one Mosaic API with one API key. It is safe for concurrent use.
type Client struct {
	base    string
	key     string
	hc      *http.Client
	retries int
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one with a 60-second timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetries sets how many times an idempotent call is retried (default 2).
func WithRetries(n int) Option { return func(c *Client) { c.retries = n } }

// New returns a client for the API at baseURL (for example
// "http://127.0.0.1:8080/v1/project") that sends key in X-API-Key.
func New(baseURL, key string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), key: key, hc: &http.Client{Timeout: 60 * time.Second}, retries: 2}
	for _, o := range opts {
		o(c)
	}
	return c
}

// WithKey returns a copy of the client that uses another API key.
func (c *Client) WithKey(key string) *Client {
	cc := *c
	cc.key = key
	return &cc
}

// BaseURL returns the API's base URL.
func (c *Client) BaseURL() string { return c.base }

// Do sends a request to path (relative to the base URL) with body encoded as
// JSON (nil for none) and decodes a JSON answer into out (nil to discard).
// A non-2xx answer is returned as *errs.Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return errs.Wrap(errs.Invalid, err, "invalid_request", "the request body cannot be encoded")
		}
	}
	idempotent := method == http.MethodGet || method == http.MethodHead || method == http.MethodDelete || method == http.MethodPut
	for attempt := 0; ; attempt++ {
		err := c.do(ctx, method, path, payload, out)
		if err == nil || !idempotent || attempt >= c.retries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(100*(1<<attempt)) * time.Millisecond):
		}
	}
}

func retryable(err error) bool {
	var e *errs.Error
	if errors.As(err, &e) {
		return e.Code == "transport" || e.Kind == errs.Unavailable
	}
	return false
}

func (c *Client) do(ctx context.Context, method, path string, payload []byte, out any) error {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "invalid_request", "cannot build the request")
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.key != "" {
		req.Header.Set("X-API-Key", c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "transport", "cannot reach the Mosaic API: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "transport", "reading the answer failed: %v", err)
	}
	if resp.StatusCode/100 != 2 {
		return decodeError(resp, data)
	}
	if out == nil {
		return nil
	}
	if s, ok := out.(*string); ok {
		*s = string(data)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return errs.Wrap(errs.Internal, err, "bad_response", "the API answered with JSON this client cannot read")
	}
	return nil
}

// decodeError turns an error answer into *errs.Error.
func decodeError(resp *http.Response, data []byte) error {
	// One decode: the known members, and whatever else (SQLSTATE code,
	// position...) goes to Fields.
	var fields map[string]any
	_ = json.Unmarshal(data, &fields)
	str := func(k string) string {
		v, _ := fields[k].(string)
		delete(fields, k)
		return v
	}
	e := &errs.Error{Kind: errs.KindForStatus(resp.StatusCode), Detail: str("detail"), Code: str("error")}
	requestID := str("request_id")
	if len(fields) > 0 {
		e.Fields = fields
	}
	if resp.StatusCode == http.StatusMethodNotAllowed {
		e.Kind = errs.Invalid
	}
	if e.Detail == "" {
		e.Detail = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	if requestID != "" {
		e.Detail += " (request id " + requestID + ")"
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if n, err := strconv.Atoi(ra); err == nil {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

func esc(s string) string { return url.PathEscape(s) }
