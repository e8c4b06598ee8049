package sqlexec

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaic-platform/mosaic/errs"
)

// cleanupTimeout bounds the removal of a half-made tenant after a failure.
const cleanupTimeout = 30 * time.Second

// reserved names are never created or dropped as tenants.
var reserved = map[string]bool{"postgres": true, "template0": true, "template1": true}

func (c *Cluster) checkName(name string) error {
	if !nameRE.MatchString(name) {
		return errs.New(errs.Invalid, "bad_name", "database name must match ^[a-z_][a-z0-9_]{0,62}$")
	}
	if reserved[name] || name == c.cfg.Template {
		return errs.New(errs.Invalid, "bad_name", "database name %q is reserved", name)
	}
	return nil
}

// progress of one Create, for cleanup. A "maybe" state means a statement's
// outcome is unknown (its context ended while it ran).
type state uint8

const (
	none state = iota
	maybe
	made
)

func (s state) String() string { return [...]string{"none", "maybe", "made"}[s] }

// Create makes role and database name, locked down as described in the
// package doc, on the server chosen by placement.
func (c *Cluster) Create(ctx context.Context, name string, lim Limits) (*Credentials, error) {
	if err := c.checkName(name); err != nil {
		return nil, err
	}
	lim = c.withDefaults(lim)
	if err := checkLimits(lim); err != nil {
		return nil, err
	}
	s, st, err := c.place(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		c.mu.Lock()
		s.inflight--
		c.mu.Unlock()
	}()
	pool, err := c.admin(s)
	if err != nil {
		return nil, err
	}
	password, err := newPassword()
	if err != nil {
		return nil, errs.Internalf(err, "sqlexec: generating a password")
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return nil, errs.Internalf(err, "sqlexec: hashing a password")
	}

	t := &creation{c: c, s: s, st: st, pool: pool, name: name, verifier: verifier}
	if err := t.run(ctx, lim); err != nil {
		err = ctxOr(ctx, err, "sqlexec: creating tenant database %q on %q", name, s.Name)
		t.cleanup(ctx)
		if errs.KindOf(err) != errs.Conflict {
			c.log.Warn("create failed", "server", s.Name, "name", name, "err", err)
		}
		return nil, err
	}
	c.log.Debug("tenant database created", "server", s.Name, "name", name)
	return &Credentials{
		Server:     s.Name,
		Host:       s.host,
		Port:       s.port,
		Database:   name,
		User:       name,
		Password:   password,
		Extensions: append([]string(nil), st.installed...),
		Missing:    append([]string(nil), st.missing...),
	}, nil
}

func (c *Cluster) withDefaults(l Limits) Limits {
	d := c.cfg.Defaults
	if l.ConnectionLimit == 0 {
		l.ConnectionLimit = d.ConnectionLimit
	}
	if l.TempFileLimit == "" {
		l.TempFileLimit = d.TempFileLimit
	}
	if l.StatementTimeout == 0 {
		l.StatementTimeout = d.StatementTimeout
	}
	if l.IdleInTransactionTimeout == 0 {
		l.IdleInTransactionTimeout = d.IdleInTransactionTimeout
	}
	return l
}

// place picks the server for a new database (see the package doc), makes
// sure it is set up and counts the create as in flight there.
func (c *Cluster) place(ctx context.Context) (*server, *setupState, error) {
	if c.isClosed() {
		return nil, nil, errClosed
	}
	type cand struct {
		s     *server
		st    *setupState
		count int64
	}
	var (
		best    *cand
		lastErr error
	)
	for _, s := range c.servers {
		st, err := c.ensure(ctx, s)
		if err == nil && len(c.servers) > 1 {
			var n int64
			n, err = c.tenantCount(ctx, s)
			if err == nil {
				c.mu.Lock()
				n += int64(s.inflight)
				c.mu.Unlock()
				if best == nil || n < best.count {
					best = &cand{s, st, n}
				}
			}
		} else if err == nil {
			best = &cand{s, st, 0}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, err
			}
			lastErr = err
			if len(c.servers) > 1 {
				c.log.Warn("server skipped for placement", "server", s.Name, "err", err)
			}
		}
	}
	if best == nil {
		return nil, nil, lastErr
	}
	c.mu.Lock()
	best.s.inflight++
	c.mu.Unlock()
	return best.s, best.st, nil
}

func (c *Cluster) tenantCount(ctx context.Context, s *server) (int64, error) {
	pool, err := c.admin(s)
	if err != nil {
		return 0, err
	}
	var n int64
	err = pool.QueryRow(ctx, `SELECT count(*) FROM pg_database d JOIN pg_roles r ON r.rolname = d.datname
		WHERE r.rolcanlogin AND NOT r.rolsuper AND NOT d.datistemplate`).Scan(&n)
	return n, ctxOr(ctx, err, "sqlexec: counting tenant databases on %q", s.Name)
}

// creation is one Create in progress.
type creation struct {
	c        *Cluster
	s        *server
	st       *setupState
	pool     *pgxpool.Pool
	name     string
	verifier string
	role, db state

	// The backend that ran the statements, and whether the connection to
	// it was lost (a cancelled statement: pgx gave up waiting and closed
	// it). Then the backend may still be running the statement, and
	// cleanup waits for it to end before it looks at what was made.
	pid     uint32
	started time.Time
	lost    bool
}

func (t *creation) run(ctx context.Context, lim Limits) error {
	conn, err := t.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		t.lost = conn.Conn().IsClosed()
		conn.Release()
	}()
	id := ident(t.name)
	if err := conn.QueryRow(ctx, "SELECT pid, backend_start FROM pg_catalog.pg_stat_activity WHERE pid = pg_catalog.pg_backend_pid()").Scan(&t.pid, &t.started); err != nil {
		return err
	}

	// 1. The role, with its settings, in one implicit transaction (several
	// statements in one simple-protocol query).
	sql := "CREATE ROLE " + id + " LOGIN PASSWORD " + literal(t.verifier) +
		" NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT CONNECTION LIMIT " +
		strconv.Itoa(lim.ConnectionLimit) + ";\n" +
		"ALTER ROLE " + id + " SET temp_file_limit = " + literal(lim.TempFileLimit) + ";\n"
	if lim.StatementTimeout > 0 {
		sql += "ALTER ROLE " + id + " SET statement_timeout = " + strconv.FormatInt(lim.StatementTimeout.Milliseconds(), 10) + ";\n"
	}
	if lim.IdleInTransactionTimeout > 0 {
		sql += "ALTER ROLE " + id + " SET idle_in_transaction_session_timeout = " + strconv.FormatInt(lim.IdleInTransactionTimeout.Milliseconds(), 10) + ";\n"
	}
	sql += "COMMENT ON ROLE " + id + " IS 'mosaic tenant'"
	t.role = maybe
	if _, err := conn.Exec(ctx, sql); err != nil {
		if c := pgCode(err); c == codeDuplicateObject || c == codeUniqueViolation {
			t.role = none
			return errs.Wrap(errs.Conflict, err, "name_taken", "a database role named %q already exists", t.name)
		}
		return err
	}
	t.role = made

	// 2. The database. It is created owned by the new role, so that if the
	// outcome is unknown, cleanup can tell it is ours, and handed to the
	// admin role in the next statement.
	sql = "CREATE DATABASE " + id + " OWNER " + id + " TEMPLATE " + ident(t.c.cfg.Template)
	if t.st.walLog {
		sql += " STRATEGY WAL_LOG"
	}
	for attempt := 0; ; attempt++ {
		t.db = maybe
		_, err = conn.Exec(ctx, sql)
		if err == nil {
			break
		}
		switch pgCode(err) {
		case codeDuplicateDatabase, codeUniqueViolation:
			t.db = none
			return errs.Wrap(errs.Conflict, err, "name_taken", "a database named %q already exists", t.name)
		case codeObjectInUse:
			// The template is open for an extension upgrade by another
			// process (see the package doc): the database was not made.
			t.db = none
			if attempt >= 20 {
				return err
			}
			select {
			case <-time.After(time.Duration(attempt+1) * 25 * time.Millisecond):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return err
	}
	t.db = made

	sql = "ALTER DATABASE " + id + " OWNER TO " + ident(t.st.admin) + ";\n" +
		"REVOKE ALL ON DATABASE " + id + " FROM PUBLIC;\n" +
		"GRANT CONNECT, TEMPORARY ON DATABASE " + id + " TO " + id
	if _, err := conn.Exec(ctx, sql); err != nil {
		return err
	}

	// 3. Inside the new, empty database: the tenant owns schema public.
	cc := t.s.adminCfg.ConnConfig.Copy()
	cc.Database = t.name
	dbConn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer dbConn.Close(context.WithoutCancel(ctx))
	_, err = dbConn.Exec(ctx, "ALTER SCHEMA public OWNER TO "+id)
	return err
}

// cleanup removes what run made, on a context detached from the caller's.
// Objects in the "maybe" state are checked first: the role must carry this
// call's SCRAM verifier, the database must be owned by that role.
func (t *creation) cleanup(parent context.Context) {
	if t.role == none {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), cleanupTimeout)
	defer cancel()
	log := t.c.log.With("server", t.s.Name, "name", t.name, "role_state", t.role.String(), "db_state", t.db.String())
	removed, err := t.doCleanup(ctx)
	switch {
	case err != nil:
		log.Error("cleanup after failed create did not finish; remove the role and database by hand", "err", err)
	case removed:
		log.Info("removed half-made tenant after a failed create")
	default:
		log.Debug("failed create had made nothing")
	}
}

// doCleanup reports whether it removed anything.
func (t *creation) doCleanup(ctx context.Context) (bool, error) {
	conn, err := t.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	id := ident(t.name)
	if t.lost && (t.role == maybe || t.db == maybe) {
		// The statement may still run on its backend: a cancel request is
		// asynchronous and a CREATE DATABASE past its point of no return
		// commits anyway. End that backend and wait (up to 10 s) for it
		// to go, so that what it made is there to be seen and removed.
		// backend_start tells it from a later backend with the same pid.
		if _, err := conn.Exec(ctx, `SELECT pg_catalog.pg_terminate_backend(pid, 10000) FROM pg_catalog.pg_stat_activity
			WHERE pid = $1 AND backend_start = $2`, t.pid, t.started); err != nil {
			return false, err
		}
	}
	if t.role == maybe {
		var ours bool
		err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_authid WHERE rolname = $1 AND rolpassword = $2)", t.name, t.verifier).Scan(&ours)
		if err != nil {
			return false, err
		}
		if !ours {
			return false, nil // never made, or someone else's
		}
		// A "maybe" role means the database was never attempted.
	}
	if t.db == maybe {
		var ours bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database d JOIN pg_authid r ON r.oid = d.datdba
			WHERE d.datname = $1 AND r.rolname = $1 AND r.rolpassword = $2)`, t.name, t.verifier).Scan(&ours)
		if err != nil {
			return false, err
		}
		if ours {
			t.db = made
		}
	}
	if t.db == made {
		t.c.dropPool(t.s.Name, t.name)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
			return false, err
		}
	}
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+id); err != nil {
		return false, err
	}
	return true, nil
}

// Drop removes database and role name on server, terminating the database's
// sessions first and closing any cached pool. Missing objects are not an
// error. It refuses names that are not tenants: the reserved databases, the
// template, and roles with any administrative attribute.
func (c *Cluster) Drop(ctx context.Context, server, name string) error {
	s, err := c.server(server)
	if err != nil {
		return err
	}
	if err := c.checkName(name); err != nil {
		return err
	}
	pool, err := c.admin(s)
	if err != nil {
		return err
	}
	c.dropPool(s.Name, name)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return ctxOr(ctx, err, "sqlexec: dropping %q on %q", name, s.Name)
	}
	defer conn.Release()
	var privileged, isAdminDB bool
	err = conn.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1 AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)),
		$1 = current_database() OR $1 = current_user`, name).Scan(&privileged, &isAdminDB)
	if err != nil {
		return ctxOr(ctx, err, "sqlexec: dropping %q on %q", name, s.Name)
	}
	if privileged || isAdminDB {
		return errs.New(errs.Invalid, "not_a_tenant", "%q is not a tenant database", name)
	}
	id := ident(name)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
		return ctxOr(ctx, err, "sqlexec: dropping database %q on %q", name, s.Name)
	}
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+id); err != nil {
		return ctxOr(ctx, err, "sqlexec: dropping role %q on %q", name, s.Name)
	}
	c.log.Debug("tenant database dropped", "server", s.Name, "name", name)
	return nil
}

// Size returns pg_database_size of the tenant database, measured as admin
// from the admin database (no tenant code runs).
func (c *Cluster) Size(ctx context.Context, server, name string) (int64, error) {
	s, err := c.server(server)
	if err != nil {
		return 0, err
	}
	if !nameRE.MatchString(name) {
		return 0, errs.New(errs.Invalid, "bad_name", "database name must match ^[a-z_][a-z0-9_]{0,62}$")
	}
	pool, err := c.admin(s)
	if err != nil {
		return 0, err
	}
	var n int64
	err = pool.QueryRow(ctx, "SELECT pg_database_size($1::text::name)", name).Scan(&n)
	if pgCode(err) == codeInvalidCatalog {
		return 0, errs.Wrap(errs.NotFound, err, "no_database", "no database named %q on %q", name, s.Name)
	}
	if err != nil {
		return 0, ctxOr(ctx, err, "sqlexec: size of %q on %q", name, s.Name)
	}
	return n, nil
}
