package sqlexec

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaic-platform/mosaic/errs"
)

// DefaultExtensions are installed in tenant databases when Config.Extensions
// is nil and the server offers them.
var DefaultExtensions = []string{"uuid-ossp", "pgcrypto", "pg_stat_statements", "vector"}

// Package defaults for Config and Limits.
const (
	DefaultTemplate                 = "mosaic_tenant_template"
	DefaultConnectionLimit          = 20
	DefaultTempFileLimit            = "1GB"
	DefaultStatementTimeout         = 60 * time.Second
	DefaultIdleInTransactionTimeout = 60 * time.Second
	DefaultPoolMaxConns             = 4
	DefaultAdminMaxConns            = 4
)

// Config configures a Cluster. The zero value of each field means its default.
type Config struct {
	// Servers host tenant databases; at least one. See the package doc for
	// placement.
	Servers []Server
	// Extensions wanted in every tenant database. nil means
	// DefaultExtensions; an empty non-nil slice means none.
	Extensions []string
	// Defaults fill in zero fields of the Limits given to Create
	// (and are themselves filled in from the package defaults).
	Defaults Limits
	// PoolMaxConns is the size of each tenant pool returned by Pool (default 4).
	PoolMaxConns int32
	// AdminMaxConns is the size of each server's admin pool (default 4).
	AdminMaxConns int32
	// Template is the name of the template database (default
	// mosaic_tenant_template).
	Template string
	// Logger receives setup and cleanup events; nil means slog.Default().
	Logger *slog.Logger
	// PoolIdleTimeout closes a cached tenant pool (and a pooled connection)
	// unused for this long (default 5 minutes).
	PoolIdleTimeout time.Duration
	// MaxTotalConns is a soft cap on the open connections of all cached
	// tenant pools: making a new pool first closes the least recently used
	// idle pools until the total plus the new pool's size fits (default 200).
	MaxTotalConns int32
}

// Cluster provisions tenant databases on a set of PostgreSQL servers. It is
// safe for concurrent use. Create it with New; it connects lazily.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	servers []*server // in Config order
	byName  map[string]*server

	mu          sync.Mutex
	pools       map[poolKey]*tenantPool
	closed      bool
	janitorOn   bool
	stopJanitor chan struct{}
}

var _ Databases = (*Cluster)(nil)

type poolKey struct{ server, database string }

type tenantPool struct {
	pool     *pgxpool.Pool
	user     string
	password string
	lastUsed atomic.Int64 // unix nanoseconds
}

// server is one Server with its lazily made admin pool and setup state.
type server struct {
	Server
	adminCfg *pgxpool.Config
	host     string // what tenants are told
	port     int

	poolOnce sync.Once
	pool     *pgxpool.Pool
	poolErr  error

	setupSem chan struct{} // held while setting up; ctx-aware mutex
	ready    *setupState   // non-nil once setup succeeded; guarded by setupSem

	inflight int // creates in progress, for placement; guarded by Cluster.mu
}

type setupState struct {
	installed []string // wanted extensions present in the template
	missing   []string // wanted extensions the server lacks
	admin     string   // the admin role (current_user)
	adminDB   string
	walLog    bool // server supports CREATE DATABASE ... STRATEGY
}

var (
	nameRE    = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	tempLimRE = regexp.MustCompile(`^(-1|[0-9]{1,12}(kB|MB|GB|TB)?)$`)
)

// New checks cfg and returns a Cluster. It does no I/O.
func New(cfg Config) (*Cluster, error) {
	if len(cfg.Servers) == 0 {
		return nil, errs.New(errs.Invalid, "no_servers", "sqlexec: at least one server is required")
	}
	if cfg.Extensions == nil {
		cfg.Extensions = slices.Clone(DefaultExtensions)
	} else {
		cfg.Extensions = slices.Clone(cfg.Extensions)
	}
	for _, e := range cfg.Extensions {
		if e == "" || strings.ContainsRune(e, 0) {
			return nil, errs.New(errs.Invalid, "bad_extension", "sqlexec: invalid extension name %q", e)
		}
	}
	if cfg.Template == "" {
		cfg.Template = DefaultTemplate
	}
	if !nameRE.MatchString(cfg.Template) {
		return nil, errs.New(errs.Invalid, "bad_template", "sqlexec: invalid template name %q", cfg.Template)
	}
	d := &cfg.Defaults
	if d.ConnectionLimit == 0 {
		d.ConnectionLimit = DefaultConnectionLimit
	}
	if d.TempFileLimit == "" {
		d.TempFileLimit = DefaultTempFileLimit
	}
	if d.StatementTimeout == 0 {
		d.StatementTimeout = DefaultStatementTimeout
	}
	if d.IdleInTransactionTimeout == 0 {
		d.IdleInTransactionTimeout = DefaultIdleInTransactionTimeout
	}
	if err := checkLimits(*d); err != nil {
		return nil, err
	}
	if cfg.PoolMaxConns <= 0 {
		cfg.PoolMaxConns = DefaultPoolMaxConns
	}
	if cfg.AdminMaxConns <= 0 {
		cfg.AdminMaxConns = DefaultAdminMaxConns
	}
	if cfg.PoolIdleTimeout <= 0 {
		cfg.PoolIdleTimeout = DefaultPoolIdleTimeout
	}
	if cfg.MaxTotalConns <= 0 {
		cfg.MaxTotalConns = DefaultMaxTotalConns
	}
	c := &Cluster{
		cfg:    cfg,
		log:    cfg.Logger,
		byName: map[string]*server{},
		pools:  map[poolKey]*tenantPool{},

		stopJanitor: make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("pkg", "sqlexec")
	for _, s := range cfg.Servers {
		if s.Name == "" {
			return nil, errs.New(errs.Invalid, "bad_server", "sqlexec: a server has no name")
		}
		if _, dup := c.byName[s.Name]; dup {
			return nil, errs.New(errs.Invalid, "bad_server", "sqlexec: server %q is listed twice", s.Name)
		}
		pc, err := pgxpool.ParseConfig(s.AdminURL)
		if err != nil {
			// The parse error may quote the URL, password included: drop it.
			return nil, errs.New(errs.Invalid, "bad_server", "sqlexec: server %q: cannot parse its admin URL", s.Name)
		}
		pc.MaxConns = cfg.AdminMaxConns
		pc.MinConns = 0
		if pc.ConnConfig.RuntimeParams == nil {
			pc.ConnConfig.RuntimeParams = map[string]string{}
		}
		if pc.ConnConfig.RuntimeParams["application_name"] == "" {
			pc.ConnConfig.RuntimeParams["application_name"] = "mosaic-sqlexec"
		}
		srv := &server{Server: s, adminCfg: pc, host: s.Host, port: s.Port, setupSem: make(chan struct{}, 1)}
		if srv.host == "" {
			srv.host = pc.ConnConfig.Host
		}
		if srv.port == 0 {
			srv.port = int(pc.ConnConfig.Port)
		}
		c.servers = append(c.servers, srv)
		c.byName[s.Name] = srv
	}
	return c, nil
}

func checkLimits(l Limits) error {
	if l.ConnectionLimit < -1 {
		return errs.New(errs.Invalid, "bad_limits", "connection limit must be -1 (unlimited) or more")
	}
	if !tempLimRE.MatchString(l.TempFileLimit) {
		return errs.New(errs.Invalid, "bad_limits", "temp file limit %q is not like 1GB, 500MB or -1", l.TempFileLimit)
	}
	return nil
}

// Close closes the admin pools and every cached tenant pool. It waits for
// connections acquired from those pools to be released.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	pools := c.pools
	c.pools = nil
	close(c.stopJanitor)
	c.mu.Unlock()
	for _, tp := range pools {
		tp.pool.Close()
	}
	for _, s := range c.servers {
		s.poolOnce.Do(func() { s.poolErr = errClosed })
		if s.pool != nil {
			s.pool.Close()
		}
	}
}

var errClosed = errs.New(errs.Unavailable, "closed", "the database cluster is closed")

func (c *Cluster) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Cluster) server(name string) (*server, error) {
	s, ok := c.byName[name]
	if !ok {
		return nil, errs.New(errs.NotFound, "unknown_server", "no database server named %q", name)
	}
	return s, nil
}

// admin returns the server's admin pool, made on first use (no I/O: pgxpool
// connects on Acquire).
func (c *Cluster) admin(s *server) (*pgxpool.Pool, error) {
	if c.isClosed() {
		return nil, errClosed
	}
	s.poolOnce.Do(func() {
		p, err := pgxpool.NewWithConfig(context.Background(), s.adminCfg)
		if err != nil {
			s.poolErr = errs.Internalf(err, "sqlexec: admin pool for server %q", s.Name)
			return
		}
		s.pool = p
	})
	return s.pool, s.poolErr
}

// templateComment marks a finished template and lists its extensions.
const templateCommentPrefix = "mosaic tenant template; extensions="

// advisoryKey is the pg_advisory_lock key that serialises setup
// (an arbitrary constant: "mosaicsq" in ASCII).
const advisoryKey int64 = 0x6d6f73616963_7371

// ensure runs the one-time setup of s unless it already succeeded in this
// process. Concurrent callers wait for one setup; a failed setup is retried
// by the next caller.
func (c *Cluster) ensure(ctx context.Context, s *server) (*setupState, error) {
	select {
	case s.setupSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctxOr(ctx, ctx.Err(), "sqlexec: waiting for setup")
	}
	defer func() { <-s.setupSem }()
	if s.ready != nil {
		return s.ready, nil
	}
	st, err := c.setup(ctx, s)
	if err != nil {
		return nil, ctxOr(ctx, err, "sqlexec: setting up server %q", s.Name)
	}
	s.ready = st
	c.log.Info("server ready", "server", s.Name, "template", c.cfg.Template,
		"extensions", st.installed, "missing", st.missing)
	return st, nil
}

// setup does the per-server work described in the package doc. It runs on
// its own connection so that the session-level advisory lock is released
// when the connection closes, whatever happens.
func (c *Cluster) setup(ctx context.Context, s *server) (*setupState, error) {
	conn, err := pgx.ConnectConfig(ctx, s.adminCfg.ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", advisoryKey); err != nil {
		return nil, err
	}
	st := &setupState{adminDB: conn.Config().Database}
	var versionNum int
	if err := conn.QueryRow(ctx, "SELECT current_user, current_setting('server_version_num')::int").Scan(&st.admin, &versionNum); err != nil {
		return nil, err
	}
	st.walLog = versionNum >= 150000

	// Nobody but the admin connects to the maintenance databases.
	var maint []string
	if err := queryStrings(ctx, conn, &maint, "SELECT datname FROM pg_database WHERE datname IN ('postgres', 'template1') ORDER BY 1"); err != nil {
		return nil, err
	}
	for _, db := range maint {
		if _, err := conn.Exec(ctx, "REVOKE CONNECT ON DATABASE "+ident(db)+" FROM PUBLIC"); err != nil {
			return nil, err
		}
	}

	var available []string
	if err := queryStrings(ctx, conn, &available, "SELECT name FROM pg_available_extensions WHERE name = ANY($1) ORDER BY 1", c.cfg.Extensions); err != nil {
		return nil, err
	}

	tmpl := c.cfg.Template
	var (
		allowConn, isTemplate bool
		comment               *string
	)
	err = conn.QueryRow(ctx, "SELECT datallowconn, datistemplate, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", tmpl).
		Scan(&allowConn, &isTemplate, &comment)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if err := c.createTemplate(ctx, conn, tmpl); err != nil {
			return nil, err
		}
		allowConn, isTemplate, comment = true, false, nil
	case err != nil:
		return nil, err
	}

	recorded, finished := parseTemplateComment(comment)
	var todo []string
	for _, e := range available {
		if !slices.Contains(recorded, e) {
			todo = append(todo, e)
		}
	}
	installed := recorded
	if !finished || len(todo) > 0 {
		if !allowConn {
			if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(tmpl)+" WITH ALLOW_CONNECTIONS true"); err != nil {
				return nil, err
			}
			allowConn = true
		}
		installed, err = c.installExtensions(ctx, s, tmpl, available)
		if err != nil {
			return nil, err
		}
		cm := templateCommentPrefix + strings.Join(installed, ",")
		if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(tmpl)+" IS "+literal(cm)); err != nil {
			return nil, err
		}
		c.log.Info("template updated", "server", s.Name, "template", tmpl, "extensions", installed)
	}
	if allowConn || !isTemplate {
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(tmpl)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
			return nil, err
		}
	}
	st.installed = slices.Clone(installed)
	for _, e := range c.cfg.Extensions {
		if !slices.Contains(installed, e) {
			st.missing = append(st.missing, e)
		}
	}
	// The lock is released by closing the connection (deferred); unlock
	// explicitly too so a pooled session could never keep it.
	_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", advisoryKey)
	return st, nil
}

// createTemplate creates the template database from template0. It is UTF8:
// if template0 is not, the C locale is used, which suits every encoding.
func (c *Cluster) createTemplate(ctx context.Context, conn *pgx.Conn, tmpl string) error {
	var enc string
	if err := conn.QueryRow(ctx, "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template0'").Scan(&enc); err != nil {
		return err
	}
	sql := "CREATE DATABASE " + ident(tmpl) + " TEMPLATE template0"
	if enc != "UTF8" {
		sql += " ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
	}
	if _, err := conn.Exec(ctx, sql); err != nil && pgCode(err) != codeDuplicateDatabase && pgCode(err) != codeUniqueViolation {
		return err
	}
	_, err := conn.Exec(ctx, "REVOKE ALL ON DATABASE "+ident(tmpl)+" FROM PUBLIC")
	return err
}

// installExtensions connects to the template and installs the available
// extensions. One that fails to install (say its library is missing) is
// logged and left out; it is then reported as missing.
func (c *Cluster) installExtensions(ctx context.Context, s *server, tmpl string, available []string) ([]string, error) {
	cc := s.adminCfg.ConnConfig.Copy()
	cc.Database = tmpl
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, e := range available {
		if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS "+ident(e)+" SCHEMA public"); err != nil {
			if ctx.Err() != nil || IsConnError(err) {
				return nil, err
			}
			c.log.Warn("extension not installed", "server", s.Name, "extension", e, "err", err)
		}
	}
	var installed []string
	err = queryStrings(ctx, conn, &installed, "SELECT extname FROM pg_extension WHERE extname = ANY($1) ORDER BY 1", available)
	return installed, err
}

func parseTemplateComment(c *string) (exts []string, ok bool) {
	if c == nil || !strings.HasPrefix(*c, templateCommentPrefix) {
		return nil, false
	}
	for e := range strings.SplitSeq(strings.TrimPrefix(*c, templateCommentPrefix), ",") {
		if e != "" {
			exts = append(exts, e)
		}
	}
	return exts, true
}

func queryStrings(ctx context.Context, conn interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, out *[]string, sql string, args ...any) error {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[string])
	*out = v
	return err
}

// ident quotes a SQL identifier.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes a SQL string literal for the simple protocol. It is only
// used for values this package builds itself; it also refuses backslashes
// so the result is the same with or without standard_conforming_strings.
func literal(s string) string {
	if strings.ContainsAny(s, "\\\x00") {
		panic(fmt.Sprintf("sqlexec: refusing to quote %q", s))
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Pool returns the cached pool for the tenant database, connecting as the
// tenant role with search_path=public, application_name=mosaic and the
// session defaults listed in the package doc (UTC, ISO dates). The pool is
// made on first use under the Cluster's lock, which makes one pool per
// database (connections open on Acquire, so no I/O happens under the lock),
// and invalidated by Drop, by a call with a different user or password, by
// idleness (Config.PoolIdleTimeout) and by the LRU cap (Config.MaxTotalConns).
// Its connections run no server-side prepared statements (QueryExecModeExec)
// because Exec ends every request with DISCARD ALL.
func (c *Cluster) Pool(ctx context.Context, cr Credentials) (*pgxpool.Pool, error) {
	s, err := c.server(cr.Server)
	if err != nil {
		return nil, err
	}
	if !nameRE.MatchString(cr.Database) || !nameRE.MatchString(cr.User) {
		return nil, errs.New(errs.Invalid, "bad_name", "invalid database or user name")
	}
	key := poolKey{s.Name, cr.Database}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if tp, ok := c.pools[key]; ok {
		if tp.user == cr.User && subtle.ConstantTimeCompare([]byte(tp.password), []byte(cr.Password)) == 1 {
			tp.touch()
			return tp.pool, nil
		}
		delete(c.pools, key)
		go tp.pool.Close() // waits for borrowed connections
	}
	pc := s.adminCfg.Copy()
	pc.ConnConfig.User = cr.User
	pc.ConnConfig.Password = cr.Password
	pc.ConnConfig.Database = cr.Database
	c.tenantPoolConfig(pc)
	pc.MaxConns = c.cfg.PoolMaxConns
	pc.MinConns = 0
	p, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, errs.Internalf(err, "sqlexec: tenant pool for %s/%s", s.Name, cr.Database)
	}
	c.evictLocked(pc.MaxConns)
	tp := &tenantPool{pool: p, user: cr.User, password: cr.Password}
	tp.touch()
	c.pools[key] = tp
	if !c.janitorOn {
		c.janitorOn = true
		go c.janitor(c.stopJanitor)
	}
	return p, nil
}

// dropPool forgets and closes the cached pool of a database. Closing waits
// for borrowed connections, so it runs in the background.
func (c *Cluster) dropPool(server, database string) {
	c.mu.Lock()
	tp, ok := c.pools[poolKey{server, database}]
	if ok {
		delete(c.pools, poolKey{server, database})
	}
	c.mu.Unlock()
	if ok {
		go tp.pool.Close()
	}
}

// ServerNames lists the configured servers' names, in configuration order.
// The root package uses it to clean up a create that was cut off before it
// recorded where its database went.
func (c *Cluster) ServerNames() []string {
	names := make([]string, len(c.servers))
	for i, s := range c.servers {
		names[i] = s.Name
	}
	return names
}
