package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/httpapi"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s settings
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	s.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	log := s.logger(stderr)
	proxies, err := httpapi.ParseProxies(s.proxies)
	if err != nil {
		return fmt.Errorf("MOSAIC_TRUSTED_PROXIES: %w", err)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	if s.publicURL == "" {
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "localhost"
		}
		s.publicURL = "http://" + net.JoinHostPort(host, port)
	}
	p, closePlatform, err := s.platform(ctx, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer closePlatform()
	if err := bootstrapKey(ctx, p, s.apiKey, stdout); err != nil {
		ln.Close()
		return err
	}

	h := httpapi.New(p, httpapi.Options{Logger: log})
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := &http.Server{
		// {slug}.{domain} serves the project's site; behind trusted proxies
		// the client is the one X-Forwarded-For names.
		Handler:           httpapi.TrustProxies(h.Sites(mux), proxies...),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("mosaic is serving", "addr", ln.Addr().String(), "api", s.publicURL+h.Prefix())
	fmt.Fprintf(stdout, "Mosaic API: %s%s\n", s.publicURL, h.Prefix())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("graceful shutdown did not finish", "err", err)
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bootstrapKey makes sure someone can call the API: MOSAIC_API_KEY is
// registered for the first account; otherwise, on a platform with no account
// yet, an account and a key are made and the key is printed once.
func bootstrapKey(ctx context.Context, p *mosaic.Platform, key string, stdout io.Writer) error {
	if key != "" {
		pr, err := p.EnsureAPIKey(ctx, key, "admin@localhost")
		if err != nil {
			return fmt.Errorf("MOSAIC_API_KEY: %w", err)
		}
		fmt.Fprintf(stdout, "API key from MOSAIC_API_KEY accepted for account %s (prefix %s)\n", pr.Account.Email, pr.Key.Prefix)
		return nil
	}
	accounts, err := p.Accounts(ctx)
	if err != nil {
		return err
	}
	if len(accounts) > 0 {
		fmt.Fprintln(stdout, `API keys are shown only when made; "mosaic keys create" makes another.`)
		return nil
	}
	a, err := p.CreateAccount(ctx, "admin@localhost", "admin")
	if err != nil {
		return err
	}
	k, meta, err := p.CreateAPIKey(ctx, a.ID, "first", 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "API key (shown once, expires %s):\n%s\n", meta.ExpiresAt.UTC().Format(time.RFC3339), k)
	return nil
}
