package localsvc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// File names inside PostgresOptions.Dir; see its documentation.
const (
	pgDataDir      = "pgdata"
	pgPasswordFile = "superuser-password"
	pgInitPassword = pgPasswordFile + ".init"
	pgLogFile      = "postgres.log"
	pgOSUser       = "postgres" // OS user to run as when this process is root
	pgSuperuser    = "postgres" // database superuser role
)

// defaultStartTimeout bounds StartPostgres when ctx has no deadline.
const defaultStartTimeout = 2 * time.Minute

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// Dir holds the server's state. It is created (0700, owned by the user
	// the server runs as) and initdb'd if it has no pgdata/PG_VERSION, and
	// reused otherwise. Required. Layout:
	//
	//	Dir/pgdata                   PGDATA
	//	Dir/superuser-password       the "postgres" role's password (0600), written once
	//	                             initdb has succeeded; keep it with pgdata
	//	Dir/superuser-password.init  the same while initdb runs; if it is found, that
	//	                             initdb never finished and pgdata is made afresh
	//	Dir/postgres.log             initdb's and the server's output, appended across runs
	//	Dir/.s.PGSQL.<port>          Unix socket (trusted local logins; omitted if Dir's
	//	                             path is too long for a socket address)
	Dir string
	// Port to listen on at 127.0.0.1; 0 picks a free port (retrying with
	// another if it is taken before the server binds it).
	Port int
	// Fsync keeps the crash-safe defaults. When false (for tests), the server
	// runs with fsync, synchronous_commit and full_page_writes off.
	Fsync bool
	// MaxConnections is the server's max_connections; 0 means 200.
	MaxConnections int
	// BinDir holds initdb and postgres. "" finds it: `pg_config --bindir`,
	// else the newest /usr/lib/postgresql/*/bin, else the directory of
	// postgres on PATH.
	BinDir string
	// Logger receives lifecycle events; nil discards them. The server's own
	// output goes to Dir/postgres.log, never to stdout.
	Logger *slog.Logger
}

// Postgres is a running PostgreSQL server started by StartPostgres.
type Postgres struct {
	dir      string
	port     int
	password string
	log      *slog.Logger
	logf     *logFile
	proc     *process
}

// StartPostgres initializes o.Dir if needed, starts postgres on 127.0.0.1 and
// returns once it accepts a password login over TCP. The server keeps running
// after ctx ends; ctx bounds only the start (2 minutes if it has no deadline).
// Call Stop to shut it down.
func StartPostgres(ctx context.Context, o PostgresOptions) (*Postgres, error) {
	if o.Dir == "" {
		return nil, errors.New("localsvc: PostgresOptions.Dir is required")
	}
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("localsvc: invalid port %d", o.Port)
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 200
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	log := o.Logger.With("service", "postgres", "dir", dir)

	bin := o.BinDir
	if bin == "" {
		if bin, err = findPostgresBinDir(ctx); err != nil {
			return nil, err
		}
	}
	as, err := serviceUser(pgOSUser)
	if err != nil {
		return nil, err
	}
	if err := preparePostgresDir(dir, as); err != nil {
		return nil, err
	}
	logf, err := openLog(filepath.Join(dir, pgLogFile), as)
	if err != nil {
		return nil, fmt.Errorf("localsvc: postgres log: %w", err)
	}
	p := &Postgres{dir: dir, log: log, logf: logf}
	ok := false
	defer func() {
		if !ok {
			logf.Close()
		}
	}()

	pgdata := filepath.Join(dir, pgDataDir)
	if p.password, err = initPostgres(ctx, bin, dir, pgdata, as, !o.Fsync, logf, log); err != nil {
		return nil, err
	}
	if err := removeStalePostmasterPID(pgdata, log); err != nil {
		return nil, err
	}

	if err := onFreePort(o.Port, log, func(port int) error { return p.start(ctx, bin, pgdata, port, o, as) }); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// errPortTaken marks a start that failed because the port was in use.
var errPortTaken = errors.New("port in use")

// start runs postgres on port and waits until it accepts a login.
func (p *Postgres) start(ctx context.Context, bin, pgdata string, port int, o PostgresOptions, as runAs) error {
	began := time.Now()
	// Unix sockets are limited to 107 bytes of path; without room, TCP only.
	sockDir := p.dir
	if len(sockDir)+len("/.s.PGSQL.65535.lock") > 100 {
		sockDir = ""
	}
	args := []string{
		"-D", pgdata,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + sockDir,
		"-c", "max_connections=" + strconv.Itoa(o.MaxConnections),
		"-c", "shared_preload_libraries=pg_stat_statements",
		"-c", "logging_collector=off",
	}
	if !o.Fsync {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	p.logf.mark(fmt.Sprintf("postgres port=%d", port))
	cmd := as.command(p.dir, p.logf.f, filepath.Join(bin, "postgres"), args...)
	p.port = port
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	proc, err := launch(ctx, "postgres", cmd, p.logf, readiness{
		every:     50 * time.Millisecond,
		portTaken: []string{"could not bind", "already in use"},
		probe: func(ctx context.Context, _ *process) error {
			// A cheap TCP dial first; then a real login, which also fails
			// while the server is still starting up or recovering.
			c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			c.Close()
			return p.ping(ctx)
		},
	})
	if err != nil {
		return err
	}
	p.proc = proc
	p.log.Info("postgres started", "port", port, "pid", proc.pid(), "took", time.Since(began).Round(time.Millisecond))
	return nil
}

func (p *Postgres) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}

// URL returns the superuser's connection URL:
// postgres://postgres:<password>@127.0.0.1:<port>/postgres?sslmode=disable.
func (p *Postgres) URL() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(pgSuperuser, p.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (p *Postgres) Port() int { return p.port }

// Dir returns the state directory (absolute).
func (p *Postgres) Dir() string { return p.dir }

// Stop shuts the server down with a fast shutdown (SIGINT: roll back open
// transactions, disconnect clients, checkpoint) and waits for it to exit. If
// ctx expires first, the server's whole process group is killed with SIGKILL
// and an error is returned. Stop is idempotent: later calls return the first
// call's result.
func (p *Postgres) Stop(ctx context.Context) error {
	err := p.proc.stop(ctx, syscall.SIGINT, p.log)
	p.logf.Close() // a second Close returns an error we do not need
	return err
}

// findPostgresBinDir locates the directory holding initdb and postgres.
func findPostgresBinDir(ctx context.Context) (string, error) {
	hasBins := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); hasBins(dir) {
			return dir, nil
		}
	}
	// Debian: /usr/lib/postgresql/<major>/bin; newest major first.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		va, vb := version(a), version(b)
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, d := range dirs {
		if hasBins(d) {
			return d, nil
		}
	}
	if path, err := exec.LookPath("postgres"); err == nil {
		if dir := filepath.Dir(path); hasBins(dir) {
			return dir, nil
		}
	}
	return "", errors.New("localsvc: PostgreSQL binaries (initdb, postgres) not found: install PostgreSQL (scripts/setup) or set PostgresOptions.BinDir")
}

// preparePostgresDir creates dir (0700) and gives it to the service user.
func preparePostgresDir(dir string, as runAs) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("localsvc: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("localsvc: %w", err)
	}
	if err := as.chown(dir); err != nil {
		return fmt.Errorf("localsvc: %w", err)
	}
	if err := as.canReach(dir); err != nil {
		return fmt.Errorf("localsvc: %w", err)
	}
	return nil
}

// initPostgres runs initdb unless pgdata holds a cluster already, and returns
// the superuser password (generated on first init, read back afterwards).
func initPostgres(ctx context.Context, bin, dir, pgdata string, as runAs, noSync bool, logf *logFile, log *slog.Logger) (string, error) {
	pwPath := filepath.Join(dir, pgPasswordFile)
	initPath := filepath.Join(dir, pgInitPassword)
	_, errVersion := os.Stat(filepath.Join(pgdata, "PG_VERSION"))
	_, errInit := os.Stat(initPath)
	if errVersion == nil && errors.Is(errInit, os.ErrNotExist) {
		b, err := os.ReadFile(pwPath)
		if err != nil {
			return "", fmt.Errorf("localsvc: %s holds a cluster but its superuser password is unreadable: %w", dir, err)
		}
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return "", fmt.Errorf("localsvc: %s is empty", pwPath)
		}
		return pw, nil
	}

	// No cluster, or an initdb that never finished (the server never ran on
	// it, so there is no data to lose): start afresh. The password file gets
	// its final name only once initdb has succeeded.
	if err := os.RemoveAll(pgdata); err != nil {
		return "", fmt.Errorf("localsvc: %w", err)
	}
	pw, err := newPassword()
	if err != nil {
		return "", err
	}
	if err := writeSecret(initPath, pw+"\n", as); err != nil {
		return "", fmt.Errorf("localsvc: write superuser password: %w", err)
	}

	began := time.Now()
	run := func(locale string) error {
		args := []string{
			"-D", pgdata,
			"-U", pgSuperuser,
			"--auth-local=trust",
			"--auth-host=scram-sha-256",
			"--pwfile=" + initPath,
			"-E", "UTF8",
			locale,
			"--no-instructions",
		}
		if noSync {
			args = append(args, "--no-sync")
		}
		logf.mark("initdb " + locale)
		cmd := as.command(dir, logf.f, filepath.Join(bin, "initdb"), args...)
		if err := runContext(ctx, cmd); err != nil {
			return fmt.Errorf("localsvc: initdb %s: %w; %s:\n%s", locale, err, logf.path, logf.tail(20))
		}
		return nil
	}
	err = run("--locale=C.UTF-8")
	if err != nil && ctx.Err() == nil {
		log.Warn("initdb with C.UTF-8 failed, retrying with --no-locale", "err", err)
		if rmErr := os.RemoveAll(pgdata); rmErr != nil {
			return "", fmt.Errorf("localsvc: %w", rmErr)
		}
		err = run("--no-locale")
	}
	if err != nil {
		return "", err
	}
	if err := os.Rename(initPath, pwPath); err != nil {
		return "", fmt.Errorf("localsvc: %w", err)
	}
	log.Info("initdb done", "took", time.Since(began).Round(time.Millisecond))
	return pw, nil
}

// runContext runs cmd, killing its process group if ctx ends first.
func runContext(ctx context.Context, cmd *exec.Cmd) error {
	proc, err := startProcess(filepath.Base(cmd.Path), cmd)
	if err != nil {
		return err
	}
	select {
	case <-proc.done:
		return proc.err
	case <-ctx.Done():
		proc.kill()
		return context.Cause(ctx)
	}
}

// newPassword returns 32 random hex characters (128 bits).
func newPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("localsvc: generate password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeSecret atomically writes a 0600 file owned by the service user.
func writeSecret(path, content string, as runAs) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.WriteString(tmp, content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := as.chown(tmp.Name()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// removeStalePostmasterPID deletes pgdata/postmaster.pid when the process it
// names is gone or is not a postgres (a pid reused after a killed run).
// PostgreSQL would refuse to start over a lock file whose pid is alive.
func removeStalePostmasterPID(pgdata string, log *slog.Logger) error {
	path := filepath.Join(pgdata, "postmaster.pid")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("localsvc: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	pid, _ := strconv.Atoi(strings.TrimSpace(string(line)))
	if pid > 0 && pidAlive(pid) {
		// Only a postgres serving this very directory holds the lock; any
		// other process got the pid by reuse after a killed run.
		if args := pidArgs(pid); len(args) > 0 && slices.Contains(args, pgdata) &&
			strings.HasPrefix(filepath.Base(args[0]), "postgres") {
			return fmt.Errorf("localsvc: %s is in use by a running postgres (pid %d)", pgdata, pid)
		}
	}
	log.Info("removing stale postmaster.pid", "pid", pid)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("localsvc: %w", err)
	}
	return nil
}
