package mosaic

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/kv"
	"github.com/mosaic-platform/mosaic/sqlexec"
)

// SQLResult is the result of Platform.SQL: exactly the body of POST
// /{slug}/sql ({"rows", "row_count", "columns", "command"}). Rows holds the
// JSON array of row objects; json.Unmarshal it into your own types.
type SQLResult = sqlexec.Result

// DatabaseUsage is the answer of Platform.DatabaseUsage and GET /{slug}/database/usage.
type DatabaseUsage struct {
	SizeBytes    int64   `json:"size_bytes"`
	LimitBytes   int64   `json:"limit_bytes"`
	UsagePercent float64 `json:"usage_percent"`
	Plan         string  `json:"plan"`
}

// Cache lifetimes. A tenant's project row and credentials are reused for
// tenantTTL (a deleted or re-created project is noticed by the failing
// connection before that); its database size is measured at most once per
// sizeTTL, so the quota check costs no query on most requests.
const (
	tenantTTL = 2 * time.Second
	sizeTTL   = 5 * time.Second
)

// DefaultSQLTimeout is the SQL time limit when neither the plan nor the
// Config sets one.
const DefaultSQLTimeout = sqlexec.DefaultTimeout

type sqlCaches struct {
	mu      sync.Mutex
	tenants map[tenantKey]*tenantEntry
	sizes   map[uuid.UUID]*sizeEntry
}

type tenantKey struct {
	owner uuid.UUID
	slug  string
}

type tenantEntry struct {
	pr      Project
	creds   sqlexec.Credentials
	expires time.Time
}

type sizeEntry struct {
	mu         sync.Mutex
	size       int64
	fetched    time.Time
	refreshing bool // a background re-measurement is running
}

// tenant returns the owner's active project with its credentials, from a
// short cache.
func (p *Platform) tenant(ctx context.Context, owner uuid.UUID, slug string) (*tenantEntry, error) {
	k := tenantKey{owner, slug}
	now := time.Now()
	c := &p.sqlc
	c.mu.Lock()
	if e := c.tenants[k]; e != nil && now.Before(e.expires) {
		c.mu.Unlock()
		return e, nil
	}
	c.mu.Unlock()
	pr, cr, err := p.projectWithCredentials(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	if pr.Status != StatusActive {
		return nil, errs.New(errs.Conflict, "project_not_ready", "project %q is %s", slug, pr.Status)
	}
	e := &tenantEntry{pr: *pr, expires: now.Add(tenantTTL), creds: sqlexec.Credentials{
		Server: pr.Database.Server, Host: cr.Host, Port: cr.Port, Database: cr.Database, User: cr.User, Password: cr.Password}}
	c.mu.Lock()
	if c.tenants == nil {
		c.tenants = map[tenantKey]*tenantEntry{}
	}
	if len(c.tenants) > 100_000 {
		for k, old := range c.tenants {
			if now.After(old.expires) {
				delete(c.tenants, k)
			}
		}
	}
	c.tenants[k] = e
	c.mu.Unlock()
	return e, nil
}

// publicTenant is tenant for requests that carry no API key and name the
// project only by its slug (site hosting, end-user auth links): the project
// of whichever account holds the slug. It shares tenant's cache.
func (p *Platform) publicTenant(ctx context.Context, slug string) (*tenantEntry, error) {
	return p.tenant(ctx, uuid.Nil, slug)
}

// forgetProject drops every cached entry of a project (it is being deleted).
func (p *Platform) forgetProject(id uuid.UUID, slug string) {
	c := &p.sqlc
	c.mu.Lock()
	for k, e := range c.tenants {
		if k.slug == slug || e.pr.ID == id {
			delete(c.tenants, k)
		}
	}
	delete(c.sizes, id)
	c.mu.Unlock()
}

func (p *Platform) forgetTenant(owner uuid.UUID, slug string) {
	p.sqlc.mu.Lock()
	delete(p.sqlc.tenants, tenantKey{owner, slug})
	p.sqlc.mu.Unlock()
}

// databaseFull reports whether the tenant's database is over its plan's
// size limit (never for a plan without one), and its size. Over the limit,
// writes that add data are refused: /sql runs read-only, auth refuses new
// users.
func (p *Platform) databaseFull(ctx context.Context, t *tenantEntry, plan Plan) (size int64, full bool, err error) {
	if plan.DatabaseBytes <= 0 {
		return 0, false, nil
	}
	size, err = p.databaseSize(ctx, t)
	if err != nil {
		return 0, false, err
	}
	return size, size > plan.DatabaseBytes, nil
}

// databaseSize returns the tenant database's size. The first call for a
// tenant measures it; later calls answer from the cache at once and, when
// the value is older than sizeTTL, start one background re-measurement
// (pg_database_size walks the database's files, so measuring on the request
// path made throughput collapse with many tenants).
func (p *Platform) databaseSize(ctx context.Context, t *tenantEntry) (int64, error) {
	c := &p.sqlc
	c.mu.Lock()
	if c.sizes == nil {
		c.sizes = map[uuid.UUID]*sizeEntry{}
	}
	e := c.sizes[t.pr.ID]
	if e == nil {
		e = &sizeEntry{}
		c.sizes[t.pr.ID] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.fetched.IsZero() {
		if time.Since(e.fetched) >= sizeTTL && !e.refreshing {
			e.refreshing = true
			go p.refreshSize(e, t.creds.Server, t.creds.Database)
		}
		return e.size, nil
	}
	n, err := p.dbs.Size(ctx, t.creds.Server, t.creds.Database)
	if err != nil {
		return 0, err
	}
	e.size, e.fetched = n, time.Now()
	return n, nil
}

func (p *Platform) refreshSize(e *sizeEntry, server, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := p.dbs.Size(ctx, server, db)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refreshing = false
	if err != nil {
		p.log.Debug("could not re-measure a tenant database", "database", db, "err", err)
		return
	}
	e.size, e.fetched = n, time.Now()
}

func (p *Platform) sqlTimeout(pl Plan) time.Duration {
	switch {
	case pl.SQLTimeout > 0:
		return pl.SQLTimeout
	case p.cfg.SQLTimeout > 0:
		return p.cfg.SQLTimeout
	}
	return DefaultSQLTimeout
}

// SQL runs query with params as the project's database role, in the
// project's database, and returns the result exactly as POST /{slug}/sql
// shows it. With params it is one statement; without, it may be a script of
// several statements (one transaction; the last statement's result).
//
// It counts against the plan's SQL queries per hour (429 with RetryAfter
// when spent) and runs within the plan's time limit. When the database is
// over the plan's size limit, the statement runs in a read-only
// transaction: reads work, writes are a Quota error (402). PostgreSQL's
// errors are Invalid (400) with the SQLSTATE in Fields["code"] and the
// position in Fields["position"]. Params are Go values or json.RawMessage;
// see package sqlexec for the types.
func (p *Platform) SQL(ctx context.Context, owner uuid.UUID, slug, query string, params ...any) (*SQLResult, error) {
	for attempt := 0; ; attempt++ {
		res, stale, err := p.sql(ctx, owner, slug, query, params)
		if stale && attempt == 0 {
			p.forgetTenant(owner, slug)
			continue
		}
		return res, err
	}
}

func (p *Platform) sql(ctx context.Context, owner uuid.UUID, slug, query string, params []any) (*SQLResult, bool, error) {
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return nil, false, err
	}
	plan, ok := p.cfg.Plans[t.pr.Plan]
	if !ok {
		return nil, false, errs.Internalf(errors.New("unknown plan"), "project %s has plan %q, which is not in the plan table", slug, t.pr.Plan)
	}
	if err := p.allow(ctx, "sql:"+t.pr.ID.String(), 1, int64(plan.SQLQueriesPerHour), time.Hour, "SQL queries"); err != nil {
		return nil, false, err
	}
	size, readOnly, err := p.databaseFull(ctx, t, plan)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, true, notFound(slug)
	}
	if err != nil {
		return nil, false, err
	}
	pool, err := p.dbs.Pool(ctx, t.creds)
	if err != nil {
		return nil, false, err
	}
	res, err := sqlexec.Exec(ctx, pool, sqlexec.Query{
		SQL: query, Params: params, ReadOnly: readOnly,
		Timeout: p.sqlTimeout(plan), MaxRows: p.cfg.SQLMaxRows, MaxBytes: p.cfg.SQLMaxBytes,
	})
	if err == nil {
		return res, false, nil
	}
	switch code := sqlexec.PgCode(err); {
	case code == "3D000" || code == "28P01" || code == "28000":
		// The database or role is gone or changed: the project was deleted
		// or re-created since it was cached.
		p.log.Debug("tenant connection refused; reloading the project", "slug", slug, "err", err)
		return nil, true, notFound(slug)
	case readOnly && code == sqlexec.CodeReadOnlyTransaction, readOnly && errors.Is(err, sqlexec.ErrScriptReadOnly):
		e := errs.As(err)
		return nil, false, &errs.Error{Kind: errs.Quota, Code: "database_full", Err: err, Fields: e.Fields,
			Detail: "the database is over its plan's size limit (" + kv.HumanBytes(size) + " of " + kv.HumanBytes(plan.DatabaseBytes) +
				"): writes are refused and reads still work, one statement at a time; delete data or upgrade the plan (" + e.Detail + ")"}
	}
	return nil, false, err
}

// DatabaseUsage reports the size of the project's database against its plan's limit.
func (p *Platform) DatabaseUsage(ctx context.Context, owner uuid.UUID, slug string) (*DatabaseUsage, error) {
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	plan := p.cfg.Plans[t.pr.Plan]
	size, err := p.databaseSize(ctx, t)
	if errors.Is(err, errs.ErrNotFound) {
		p.forgetTenant(owner, slug)
		return nil, notFound(slug)
	}
	if err != nil {
		return nil, err
	}
	u := &DatabaseUsage{SizeBytes: size, LimitBytes: plan.DatabaseBytes, Plan: t.pr.Plan}
	if plan.DatabaseBytes > 0 {
		u.UsagePercent = math.Round(float64(size)/float64(plan.DatabaseBytes)*10000) / 100
	}
	return u, nil
}
