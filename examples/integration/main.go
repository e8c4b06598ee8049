// Command integration is a small todo app built on a Mosaic project, and
// app_test.go is its integration test written with mosaictest, as you would
// write one for your own app: every test gets a real platform (PostgreSQL,
// Redis, object storage, an SMTP server), a fresh account and project, and
// drives the app over HTTP.
//
//	go test ./examples/integration
//
// To run the app against a Mosaic server (cmd/mosaic prints its API URL and
// first key):
//
//	MOSAIC_API_URL=http://localhost:8080/v1/project MOSAIC_API_KEY=... \
//	MOSAIC_PROJECT=my-todos APP_SECRET=$(openssl rand -hex 32) \
//	go run ./examples/integration
//
// Users sign up and log in with a password (the app keeps a signed session
// cookie), or ask for a sign-in link by email. The platform verifies the
// link and redirects to the app's /welcome?user_id=...&verified=true&code=...;
// user_id proves nothing (anyone can type it), so the app exchanges the
// one-time code with the platform for the user and opens the session for
// that user only.
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mosaic-platform/mosaic/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8091"
	}
	api, key, slug, secret := os.Getenv("MOSAIC_API_URL"), os.Getenv("MOSAIC_API_KEY"), os.Getenv("MOSAIC_PROJECT"), os.Getenv("APP_SECRET")
	if api == "" || key == "" || slug == "" || len(secret) < 32 {
		log.Fatal("set MOSAIC_API_URL, MOSAIC_API_KEY, MOSAIC_PROJECT and APP_SECRET (32 characters or more)")
	}
	app := NewApp(client.New(api, key), slug, "http://"+addr, []byte(secret))
	if err := app.Init(ctx); err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: addr, Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	log.Printf("todo app on http://%s", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
