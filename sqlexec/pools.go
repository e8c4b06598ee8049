package sqlexec

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool eviction defaults (Config.PoolIdleTimeout, Config.MaxTotalConns).
const (
	DefaultPoolIdleTimeout = 5 * time.Minute
	DefaultMaxTotalConns   = 200
)

// CancelDeadlineDelay is how long a cancelled statement's connection waits
// for the server to answer the cancel request before the connection is cut.
const CancelDeadlineDelay = 2 * time.Second

// tenantPoolConfig finishes a tenant pool's config: session defaults that
// make the text output predictable, a cancel request (not only a closed
// socket) when a context ends, no server-side prepared statements (Exec
// resets sessions with DISCARD ALL), and pgvector's types registered.
// pingAfterIdle is how long a pooled tenant connection may sit idle before
// it is pinged on its way out of the pool.
const pingAfterIdle = 30 * time.Second

func (c *Cluster) tenantPoolConfig(pc *pgxpool.Config) {
	pc.ConnConfig.RuntimeParams = map[string]string{
		"search_path":        "public",
		"application_name":   "mosaic",
		"DateStyle":          "ISO, YMD",
		"IntervalStyle":      "iso_8601",
		"TimeZone":           "UTC",
		"extra_float_digits": "1",
		"bytea_output":       "hex",
	}
	pc.ConnConfig.BuildContextWatcherHandler = func(pg *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pg, DeadlineDelay: CancelDeadlineDelay}
	}
	pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	pc.ConnConfig.StatementCacheCapacity = 0
	pc.ConnConfig.DescriptionCacheCapacity = 0
	pc.MaxConnIdleTime = c.cfg.PoolIdleTimeout
	// pgxpool pings a connection idle for over a second before handing it
	// out: one more round trip on most requests of a platform with many
	// quiet tenants. Ping only after a long idle (a restarted server); a
	// connection that died sooner fails its request, which Exec retries
	// once when nothing was sent.
	pc.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
		return p.IdleDuration > pingAfterIdle
	}
	pc.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		// A DataRow bigger than this is refused before it is buffered.
		conn.PgConn().Frontend().SetMaxBodyLen(DefaultMaxBytes + 1<<20)
		return registerVectorTypes(ctx, conn)
	}
}

// registerVectorTypes looks up the types of the vector extension, if the
// database has it, so results can write them as JSON arrays.
func registerVectorTypes(ctx context.Context, conn *pgx.Conn) error {
	rr := conn.PgConn().ExecParams(ctx, `SELECT t.oid::text, t.typname::text FROM pg_catalog.pg_type t
		JOIN pg_catalog.pg_depend d ON d.objid = t.oid AND d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.deptype = 'e'
		JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
		WHERE e.extname = 'vector' AND t.typname IN ('vector', 'halfvec')`, nil, nil, nil, nil)
	r := rr.Read()
	if r.Err != nil {
		return r.Err
	}
	for _, row := range r.Rows {
		oid, err := parseOID(row[0])
		if err != nil {
			return err
		}
		conn.TypeMap().RegisterType(&pgtype.Type{Name: string(row[1]), OID: oid, Codec: pgtype.TextCodec{}})
	}
	return nil
}

func parseOID(b []byte) (uint32, error) {
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errBadOID
		}
		n = n*10 + uint64(c-'0')
	}
	return uint32(n), nil
}

var errBadOID = errors.New("sqlexec: bad oid in pg_type")

// touch records a use of the pool, for LRU eviction.
func (tp *tenantPool) touch() { tp.lastUsed.Store(time.Now().UnixNano()) }

// evictLocked closes cached pools that have been idle for longer than
// PoolIdleTimeout and, while the open connections of all pools exceed
// MaxTotalConns - reserve, the least recently used pools that have no
// connection in use. It is called with c.mu held; the pools close in the
// background.
func (c *Cluster) evictLocked(reserve int32) {
	now := time.Now().UnixNano()
	type cand struct {
		key  poolKey
		tp   *tenantPool
		last int64
	}
	var (
		cands []cand
		total int32
	)
	for k, tp := range c.pools {
		st := tp.pool.Stat()
		total += st.TotalConns()
		last := tp.lastUsed.Load()
		if st.AcquiredConns() > 0 || st.ConstructingConns() > 0 {
			continue
		}
		if time.Duration(now-last) > c.cfg.PoolIdleTimeout {
			total -= st.TotalConns()
			delete(c.pools, k)
			go tp.pool.Close()
			continue
		}
		cands = append(cands, cand{k, tp, last})
	}
	if total+reserve <= c.cfg.MaxTotalConns {
		return
	}
	slices.SortFunc(cands, func(a, b cand) int {
		switch {
		case a.last < b.last:
			return -1
		case a.last > b.last:
			return 1
		}
		return 0
	})
	for _, cd := range cands {
		if total+reserve <= c.cfg.MaxTotalConns {
			break
		}
		total -= cd.tp.pool.Stat().TotalConns()
		delete(c.pools, cd.key)
		go cd.tp.pool.Close()
	}
}

// janitor evicts idle pools once a minute (or every PoolIdleTimeout/4,
// when shorter) until the Cluster closes.
func (c *Cluster) janitor(stop <-chan struct{}) {
	every := min(time.Minute, max(c.cfg.PoolIdleTimeout/4, 10*time.Millisecond))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.mu.Lock()
			if !c.closed {
				c.evictLocked(0)
			}
			c.mu.Unlock()
		}
	}
}

// PoolStats describes the cached tenant pools.
type PoolStats struct {
	Pools         int   // cached pools
	TotalConns    int32 // open connections in them
	AcquiredConns int32 // connections in use
}

// PoolStats returns the current pool statistics.
func (c *Cluster) PoolStats() PoolStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := PoolStats{Pools: len(c.pools)}
	for _, tp := range c.pools {
		st := tp.pool.Stat()
		s.TotalConns += st.TotalConns()
		s.AcquiredConns += st.AcquiredConns()
	}
	return s
}
