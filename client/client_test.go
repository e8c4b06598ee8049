package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func TestErrorsAreThePlatformsType(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	ctx := context.Background()
	_, err := env.Client.ProjectInfo(ctx, "no-such-project")
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.NotFound || e.Code != "project_not_found" || !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("err = %#v", err)
	}
	_, err = client.New(env.BaseURL, "mk_wrong_wrong_wrong_wrong_wrong_wrong_wrong").Whoami(ctx)
	if !errors.Is(err, mosaic.ErrUnauthorized) {
		t.Errorf("wrong key: %v", err)
	}
	_, err = env.Client.CreateProject(ctx, client.CreateProjectRequest{Name: "x", Slug: "Bad Slug"})
	if !errors.Is(err, &errs.Error{Kind: errs.Invalid, Code: "invalid_slug"}) {
		t.Errorf("bad slug: %v", err)
	}
}

// TestRetriesOnlyIdempotentCalls uses a flaky HTTP front (not a database
// stand-in): GETs are retried through 503s, POSTs are not.
func TestRetriesOnlyIdempotentCalls(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	var failures, posts atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		if failures.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"detail":"try later","error":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		env.Server.Config.Handler.ServeHTTP(w, r)
	}))
	defer front.Close()
	c := client.New(front.URL+"/v1/project", env.APIKey, client.WithRetries(2))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	failures.Store(2)
	if _, err := c.Whoami(ctx); err != nil {
		t.Errorf("GET through two 503s: %v", err)
	}
	failures.Store(1)
	_, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "x"})
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.Unavailable || e.RetryAfter != time.Second {
		t.Errorf("POST through a 503: %v, want the 503 with Retry-After", err)
	}
	if posts.Load() != 1 {
		t.Errorf("POST was sent %d times, want 1", posts.Load())
	}
}
