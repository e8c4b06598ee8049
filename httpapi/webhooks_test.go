package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/gitpush/webhook"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestWebhookOnFilePush: a webhook registered through the API receives a
// signed push event when a file is pushed; another account can neither see
// nor remove it.
func TestWebhookOnFilePush(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	ctx := context.Background()
	cp := env.Project(t)

	type got struct {
		body []byte
		sig  string
	}
	deliveries := make(chan got, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		deliveries <- got{b, r.Header.Get("X-Mosaic-Signature")}
	}))
	defer recv.Close()

	hook, err := env.Client.CreateWebhook(ctx, cp.Slug, recv.URL+"/hook", "push")
	if err != nil {
		t.Fatal(err)
	}
	if hook.Secret == "" || hook.ID == "" {
		t.Fatalf("create answered %+v, want an id and a secret", hook)
	}
	list, err := env.Client.Webhooks(ctx, cp.Slug)
	if err != nil || len(list) != 1 || list[0].Secret != "" {
		t.Fatalf("list %+v (err %v): want one hook, secret hidden", list, err)
	}

	c, err := env.Client.PutFile(ctx, cp.Slug, client.PutFileRequest{Path: "x.txt", Content: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	var d got
	select {
	case d = <-deliveries:
	case <-time.After(time.Minute):
		t.Fatal("no webhook delivery")
	}
	if !webhook.Verify(hook.Secret, d.body, d.sig) {
		t.Errorf("the signature %q does not verify", d.sig)
	}
	var p struct {
		Event, Project string
		Data           struct {
			Updates []struct{ Ref, Before, After string }
		}
	}
	if err := json.Unmarshal(d.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != "push" || p.Project != cp.Slug || len(p.Data.Updates) != 1 || p.Data.Updates[0].After != c.SHA {
		t.Errorf("payload %s", d.body)
	}

	_, _, other := env.NewAccount(t)
	if _, err := other.Webhooks(ctx, cp.Slug); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account lists the hooks: %v", err)
	}
	if err := other.DeleteWebhook(ctx, cp.Slug, hook.ID); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account deletes the hook: %v", err)
	}
	if _, err := env.Client.CreateWebhook(ctx, cp.Slug, "ftp://example.com/x"); !errors.Is(err, mosaic.ErrInvalid) {
		t.Errorf("an ftp URL: %v", err)
	}
	if _, err := env.Client.CreateWebhook(ctx, cp.Slug, recv.URL, "nonsense"); !errors.Is(err, mosaic.ErrInvalid) {
		t.Errorf("an unknown event: %v", err)
	}
	if err := env.Client.DeleteWebhook(ctx, cp.Slug, hook.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := env.Client.Webhooks(ctx, cp.Slug); len(list) != 0 {
		t.Errorf("%d hooks after delete", len(list))
	}
}
