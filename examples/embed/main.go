// Command embed runs the whole Mosaic platform inside one Go program, with
// no server of its own to deploy: it opens the platform on a PostgreSQL
// server, provisions a project, and uses the project's SQL database, file
// storage, key-value store and end-user auth through the platform's Go API.
//
// One command, with PostgreSQL installed (scripts/setup installs it):
//
//	go run ./examples/embed
//
// starts a throwaway PostgreSQL server in a temporary directory and removes
// it at the end (with internal/localsvc, the helper cmd/mosaic uses; a
// program outside this module passes a URL instead). To use a server of yours, and Redis for the key-value
// store, pass their URLs (flags or environment):
//
//	MOSAIC_DATABASE_URL=postgres://postgres:pw@127.0.0.1:5432/postgres \
//	MOSAIC_REDIS_URL=redis://127.0.0.1:6379/0 \
//	go run ./examples/embed
//
// The database URL must be an admin's: the platform creates a database and
// a role per project. Without Redis the key-value part is skipped with a
// note. Files are kept by the local-filesystem store under -data-dir (a
// temporary directory by default), whose presigned URLs the program serves
// itself, together with the REST API, on a loopback port; auth emails go to
// the log mailer, which writes them, link included, to the output (for
// development only: anyone who reads that log can sign in as the recipient).
//
// The program deletes the project it made when it ends. The account it
// makes (embed-....@example.com) stays in the platform's control database.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/httpapi"
	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/kv"
)

// config is what the program needs from its caller.
type config struct {
	// DatabaseURL is a PostgreSQL admin URL; "" starts a local PostgreSQL
	// server (from the installed binaries) under DataDir for this run.
	DatabaseURL string
	// RedisURL is a Redis server for the key-value store; "" skips it.
	RedisURL string
	// DataDir holds the stored files (and the local PostgreSQL server);
	// "" is a temporary directory, removed at the end.
	DataDir string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.DatabaseURL, "database-url", os.Getenv("MOSAIC_DATABASE_URL"), "PostgreSQL admin URL (default $MOSAIC_DATABASE_URL; empty: start a local PostgreSQL)")
	flag.StringVar(&cfg.RedisURL, "redis-url", os.Getenv("MOSAIC_REDIS_URL"), "Redis URL for the key-value store (default $MOSAIC_REDIS_URL; empty: skip it)")
	flag.StringVar(&cfg.DataDir, "data-dir", "", "directory for stored files (empty: a temporary directory)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run does the whole tour, printing each step to out.
func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	out = &lockedWriter{w: out} // the mailer writes from the platform's goroutines
	dataDir := cfg.DataDir
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "mosaic-embed-"); err != nil {
			return err
		}
		defer os.RemoveAll(dataDir)
	} else if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}

	// PostgreSQL: the caller's, else one of our own for this run.
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		// A PostgreSQL started as root runs as the postgres user, which
		// must be able to enter the directory.
		if err := os.Chmod(dataDir, 0o711); err != nil {
			return err
		}
		pg, err := localsvc.StartPostgres(ctx, localsvc.PostgresOptions{Dir: filepath.Join(dataDir, "postgres")})
		if err != nil {
			return fmt.Errorf("start a local PostgreSQL (or set MOSAIC_DATABASE_URL): %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pg.Stop(sctx)
		}()
		dbURL = pg.URL()
		fmt.Fprintf(out, "postgres: started a local server for this run\n")
	}

	// The platform's HTTP side (REST API, the local store's presigned URLs,
	// the links of auth emails) listens on loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	publicURL := "http://" + ln.Addr().String()

	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mail := &inbox{
		LogMailer: authn.LogMailer{Logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{ReplaceAttr: dropTime}))},
		sent:      make(chan authn.Message, 8),
	}
	pcfg := mosaic.Config{
		DatabaseURL: dbURL,
		// A real application keeps a stable secret: it seals the projects'
		// database passwords. This run deletes its project at the end.
		SecretKey:  []byte(randomHex(32)),
		PublicURL:  publicURL,
		StorageDir: filepath.Join(dataDir, "storage"),
		GitDir:     filepath.Join(dataDir, "git"),
		Mailer:     mail,
		Logger:     logger,
	}
	if cfg.RedisURL != "" {
		rc, err := kv.NewClient(cfg.RedisURL)
		if err != nil {
			return err
		}
		defer rc.Close()
		pcfg.KV = kv.New(rc, kv.Options{Logger: logger})
	}
	p, err := mosaic.New(ctx, pcfg)
	if err != nil {
		return err
	}
	defer p.Close()

	mux := http.NewServeMux()
	httpapi.New(p, httpapi.Options{Logger: logger}).Mount(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(out, "platform: ready, serving %s\n", publicURL)

	// An account owns projects; a pro project has every capability.
	suffix := randomHex(8)
	acct, err := p.CreateAccount(ctx, "embed-"+suffix+"@example.com", "Embed demo")
	if err != nil {
		return err
	}
	owner := acct.ID
	cp, err := p.CreateProject(ctx, owner, mosaic.NewProject{Name: "Embed demo", Slug: "embed-" + suffix, Plan: "pro"})
	if err != nil {
		return err
	}
	slug := cp.Slug
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if derr := p.DeleteProject(dctx, owner, slug); derr != nil {
			err = errors.Join(err, derr)
			return
		}
		fmt.Fprintf(out, "project: deleted %s\n", slug)
	}()
	fmt.Fprintf(out, "project: %s (plan %s, database %s)\n", slug, cp.Plan, cp.Credentials.Database)

	if err := useSQL(ctx, p, owner, slug, out); err != nil {
		return fmt.Errorf("sql: %w", err)
	}
	if err := useStorage(ctx, p, owner, slug, out); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if err := useKV(ctx, p, owner, slug, out); err != nil {
		return fmt.Errorf("kv: %w", err)
	}
	if err := useAuth(ctx, p, owner, slug, mail, out); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

// useSQL creates a table, inserts with parameters and reads the rows back.
func useSQL(ctx context.Context, p *mosaic.Platform, owner uuid.UUID, slug string, out io.Writer) error {
	if _, err := p.SQL(ctx, owner, slug, `CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)`); err != nil {
		return err
	}
	res, err := p.SQL(ctx, owner, slug, `INSERT INTO notes (body) VALUES ($1), ($2)`, "first note", "second note")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sql: created table notes, inserted %d rows\n", res.RowCount)
	res, err = p.SQL(ctx, owner, slug, `SELECT id, body FROM notes WHERE id >= $1 ORDER BY id`, 1)
	if err != nil {
		return err
	}
	var rows []struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
	}
	if err := json.Unmarshal(res.Rows, &rows); err != nil {
		return err
	}
	for _, r := range rows {
		fmt.Fprintf(out, "sql: row %d: %q\n", r.ID, r.Body)
	}
	return nil
}

// fileContent is what useStorage uploads.
const fileContent = "Hello from an embedded Mosaic!\n"

// useStorage uploads a file through a presigned URL with plain net/http and
// downloads it the same way.
func useStorage(ctx context.Context, p *mosaic.Platform, owner uuid.UUID, slug string, out io.Writer) error {
	up, err := p.UploadURL(ctx, owner, slug, mosaic.UploadRequest{Filename: "docs/hello.txt", ContentType: "text/plain", Size: int64(len(fileContent))})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, up.Method, up.UploadURL, strings.NewReader(fileContent))
	if err != nil {
		return err
	}
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	if _, err := fetch(req); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	f, err := p.ConfirmUpload(ctx, owner, slug, up.Filename)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "storage: uploaded %s (%d bytes, %s)\n", f.Filename, f.Size, f.ContentType)

	dl, err := p.FileDownloadURL(ctx, owner, slug, up.Filename)
	if err != nil {
		return err
	}
	req, err = http.NewRequestWithContext(ctx, dl.Method, dl.DownloadURL, nil)
	if err != nil {
		return err
	}
	body, err := fetch(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	fmt.Fprintf(out, "storage: downloaded %s: %q\n", dl.Filename, body)
	return nil
}

// fetch sends req and returns the body of a 2xx answer.
func fetch(req *http.Request) ([]byte, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// useKV sets and gets a key, when the platform has a key-value store.
func useKV(ctx context.Context, p *mosaic.Platform, owner uuid.UUID, slug string, out io.Writer) error {
	store, err := p.KV(ctx, owner, slug)
	if errors.Is(err, mosaic.ErrUnavailable) {
		fmt.Fprintln(out, "kv: skipped: no Redis (set MOSAIC_REDIS_URL to use the key-value store)")
		return nil
	}
	if err != nil {
		return err
	}
	if err := store.Set(ctx, "greeting", "hello, key-value", time.Hour); err != nil {
		return err
	}
	v, ok, err := store.Get(ctx, "greeting")
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("the key just set is missing")
	}
	fmt.Fprintf(out, "kv: greeting = %q\n", v)
	return nil
}

// useAuth signs a user up and in with a password, and signs another in
// with a magic link: the mailer hands over the email, whose link the
// program follows as the user's browser would.
func useAuth(ctx context.Context, p *mosaic.Platform, owner uuid.UUID, slug string, mail *inbox, out io.Writer) error {
	a, err := p.Auth(ctx, owner, slug)
	if err != nil {
		return err
	}
	u, err := a.Signup(ctx, mosaic.AuthNewUser{Email: "ada@example.com", Password: "correct horse battery"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "auth: signed up %s as %s\n", u.Email, u.ID)
	u, err = a.Login(ctx, "ada@example.com", "correct horse battery", "")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "auth: logged in %s as %s\n", u.Email, u.ID)

	ttl, err := a.SendMagicLink(ctx, "grace@example.com", "", nil, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "auth: magic link sent to grace@example.com (valid %s)\n", ttl)
	var m authn.Message
	select { // the email leaves in the background
	case m = <-mail.sent:
	case <-time.After(time.Minute):
		return errors.New("no email after a minute")
	case <-ctx.Done():
		return ctx.Err()
	}
	link := firstURL(m.Text)
	if link == "" {
		return fmt.Errorf("no link in the email %q", m.Subject)
	}
	// The link answers with a redirect to the app (the project's site by
	// default), which would read user_id from it.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		return fmt.Errorf("the link answered %s, not a redirect", resp.Status)
	}
	q := loc.Query()
	fmt.Fprintf(out, "auth: followed the link: user_id=%s verified=%s\n", q.Get("user_id"), q.Get("verified"))
	id, err := uuid.Parse(q.Get("user_id"))
	if err != nil {
		return err
	}
	g, err := a.User(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "auth: user %s is %s, email verified: %t\n", g.ID, g.Email, g.EmailVerified)
	return nil
}

// inbox is the example's Mailer: the platform's log mailer, which writes
// each email to the output, plus a channel on which the program receives
// the email to follow its link.
type inbox struct {
	authn.LogMailer
	sent chan authn.Message
}

func (b *inbox) Send(ctx context.Context, m authn.Message) error {
	if err := b.LogMailer.Send(ctx, m); err != nil {
		return err
	}
	select {
	case b.sent <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// firstURL returns the first line of text that is a URL.
func firstURL(text string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") {
			return l
		}
	}
	return ""
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}
