// Command mount shows Mosaic's REST API mounted inside an existing
// application: the app keeps its own routes and its own login, and the
// platform's routes live under /platform/ behind that login.
//
//	DATABASE_URL=postgres://postgres:pw@127.0.0.1:5432/postgres go run ./examples/mount
//	curl -b session=demo http://127.0.0.1:8090/platform/ | jq .endpoints[].path
//
// Requests under /platform/ need the app's session cookie (the app's auth)
// and then, as every Mosaic call, an X-API-Key (the platform's auth).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/httpapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8090"
	}
	if err := run(ctx, addr, os.Getenv("DATABASE_URL"), os.Getenv("SECRET_KEY"), nil); err != nil {
		log.Fatal(err)
	}
}

// run serves the app until ctx ends. If ready is not nil, it receives the
// app's base URL and the first API key once the app is listening.
func run(ctx context.Context, addr, databaseURL, secret string, ready chan<- [2]string) error {
	if databaseURL == "" {
		return errors.New("set DATABASE_URL to a PostgreSQL admin URL")
	}
	if secret == "" {
		secret = "example-secret-key-change-me" // a real app keeps a stable secret
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	p, err := mosaic.New(ctx, mosaic.Config{DatabaseURL: databaseURL, SecretKey: []byte(secret), PublicURL: base})
	if err != nil {
		ln.Close()
		return err
	}
	defer p.Close()

	mux := http.NewServeMux()
	// The app's own routes.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "my app; the platform is under /platform/")
	})
	// The platform, under /platform/, behind the app's own auth.
	api := httpapi.New(p, httpapi.Options{Prefix: "/platform", Logger: slog.Default()})
	mux.Handle("/platform/", requireSession(http.StripPrefix("/platform", api)))

	if ready != nil {
		a, err := p.CreateAccount(ctx, fmt.Sprintf("demo-%d@example.com", os.Getpid()), "demo")
		if err != nil {
			ln.Close()
			return err
		}
		key, _, err := p.CreateAPIKey(ctx, a.ID, "demo", 0)
		if err != nil {
			ln.Close()
			return err
		}
		ready <- [2]string{base, key}
	}
	srv := &http.Server{Handler: mux}
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// requireSession stands in for the app's login: a request needs the
// "session" cookie before it reaches the platform.
func requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session"); err != nil || c.Value != "demo" {
			http.Error(w, "log in to the app first", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
