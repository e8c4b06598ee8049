package sqlexec_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mosaic-platform/mosaic/sqlexec"
)

// warm opens n connections in p and returns them to it.
func warm(t *testing.T, p *pgxpool.Pool, n int) {
	t.Helper()
	ctx := context.Background()
	var conns []*pgxpool.Conn
	for range n {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
}

// eventually polls cond until it holds or a generous bound passes; it
// asserts an outcome, not a time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("never happened: %s", what)
}

func closed(p *pgxpool.Pool) bool {
	return p.Ping(context.Background()) != nil
}

// TestPoolLRUCap: when a new tenant pool would take the open connections of
// all pools over MaxTotalConns, the least recently used idle pool is closed;
// a pool with a connection in use is never closed.
func TestPoolLRUCap(t *testing.T) {
	needServer(t)
	t.Parallel()
	cl, err := sqlexec.New(sqlexec.Config{
		Servers:      []sqlexec.Server{{Name: testServer, AdminURL: adminURL}},
		PoolMaxConns: 2, MaxTotalConns: 4, PoolIdleTimeout: time.Hour,
		Logger: testLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	a, b, c := createTenant(t, uniqueName(t)), createTenant(t, uniqueName(t)), createTenant(t, uniqueName(t))

	pa, err := cl.Pool(ctx, *a)
	if err != nil {
		t.Fatal(err)
	}
	warm(t, pa, 2)
	time.Sleep(2 * time.Millisecond) // distinct last-use times
	pb, err := cl.Pool(ctx, *b)
	if err != nil {
		t.Fatal(err)
	}
	warm(t, pb, 2)
	held, err := pb.Acquire(ctx) // b is busy: it must survive
	if err != nil {
		t.Fatal(err)
	}

	pc, err := cl.Pool(ctx, *c) // 4 open + 2 for c > 4: evict the LRU idle pool, a
	if err != nil {
		t.Fatal(err)
	}
	warm(t, pc, 1)
	eventually(t, "the least recently used pool is closed", func() bool { return closed(pa) })
	if closed(pb) {
		t.Error("a pool with a connection in use was closed")
	}
	if again, _ := cl.Pool(ctx, *b); again != pb {
		t.Error("the busy pool was replaced")
	}
	held.Release()
	if again, err := cl.Pool(ctx, *a); err != nil || again == pa || again.Ping(ctx) != nil {
		t.Errorf("after eviction Pool did not make a new working pool (err %v)", err)
	}
}

// TestPoolIdleEviction: a pool unused for PoolIdleTimeout is closed by the
// janitor, and the next Pool call makes a working one.
func TestPoolIdleEviction(t *testing.T) {
	needServer(t)
	t.Parallel()
	cl, err := sqlexec.New(sqlexec.Config{
		Servers:         []sqlexec.Server{{Name: testServer, AdminURL: adminURL}},
		PoolIdleTimeout: 100 * time.Millisecond,
		Logger:          testLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	cr := createTenant(t, uniqueName(t))
	p, err := cl.Pool(ctx, *cr)
	if err != nil {
		t.Fatal(err)
	}
	warm(t, p, 1)
	eventually(t, "the idle pool is closed", func() bool { return closed(p) })
	p2, err := cl.Pool(ctx, *cr)
	if err != nil || p2 == p {
		t.Fatalf("Pool after idle eviction: same=%v err=%v", p2 == p, err)
	}
	if err := p2.Ping(ctx); err != nil {
		t.Fatalf("the new pool does not work: %v", err)
	}
}
