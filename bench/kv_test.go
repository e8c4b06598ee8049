package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/internal/localsvc"
	"github.com/mosaic-platform/mosaic/kv"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// kvBench is a platform whose key-value store is a redis-server of its own
// (the 1M-key fill must not touch the shared one), with a plan whose quotas
// do not get in the way, plus webdis on the same Redis when it is installed.
type kvBench struct {
	env     *mosaictest.Env
	rc      *redis.Client
	slug    string
	tenant  string
	hc      *http.Client
	webdis  string // base URL, "" when webdis is not installed
	apiBase string
	key     string
}

func newKVBench(b *testing.B) *kvBench {
	b.Helper()
	dir, err := os.MkdirTemp("", "kvbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	ctx := context.Background()
	rs, err := localsvc.StartRedis(ctx, localsvc.RedisOptions{Dir: filepath.Join(dir, "redis")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rs.Stop(context.Background()) })
	rc, err := kv.NewClient(rs.URL() + "?pool_size=100")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rc.Close() })
	env := mosaictest.New(b, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.KV = kv.New(rc, kv.Options{AutoPipeline: true})
		c.Plans = mosaic.DefaultPlans()
		pl := c.Plans["pro"]
		pl.Name, pl.RedisOpsPerHour, pl.RedisBytes = "kvbench", 1<<40, 1<<40
		c.Plans["kvbench"] = pl
	}))
	cp := env.Project(b, func(n *mosaic.NewProject) { n.Plan = "kvbench" })
	kb := &kvBench{env: env, rc: rc, slug: cp.Slug, tenant: cp.ID.String(), key: "bench:k",
		hc:      &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200, MaxConnsPerHost: 200}},
		apiBase: env.BaseURL + "/" + cp.Slug + "/redis/"}
	if path, err := exec.LookPath("webdis"); err == nil {
		kb.webdis = startWebdis(b, path, dir, rs.Port())
	} else {
		b.Log("webdis is not installed: no webdis anchor")
	}
	return kb
}

func startWebdis(b *testing.B, bin, dir string, redisPort int) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg, _ := json.Marshal(map[string]any{
		"redis_host": "127.0.0.1", "redis_port": redisPort, "http_host": "127.0.0.1", "http_port": port,
		"threads": 2, "pool_size": 20, "daemonize": false, "database": 0, "verbosity": 0,
		"logfile": filepath.Join(dir, "webdis.log"),
	})
	path := filepath.Join(dir, "webdis.json")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, path)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	for range 200 {
		if resp, err := http.Get(base + "/PING"); err == nil {
			resp.Body.Close()
			return base
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatal("webdis did not start")
	return ""
}

// load runs b.N calls of fn over conc goroutines and reports throughput,
// latency percentiles, and the CPU time the whole test process (client and
// server) spent per call: on a shared machine throughput moves with the
// neighbours' load, while CPU per call mostly does not, so ratios of
// cpu-µs are the steadier comparison of two handlers.
func load(b *testing.B, conc int, fn func() error) {
	b.Helper()
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	per := b.N / conc
	if per == 0 {
		per = 1
	}
	errc := make(chan error, conc)
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	for g := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, per)
			for range per {
				t0 := time.Now()
				if err := fn(); err != nil {
					errc <- err
					return
				}
				l = append(l, time.Since(t0))
			}
			lat[g] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-µs/req")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (kb *kvBench) post(op, body string) error {
	req, _ := http.NewRequest("POST", kb.apiBase+op, bytes.NewReader([]byte(body)))
	req.Header.Set("X-API-Key", kb.env.APIKey)
	req.Header.Set("Content-Type", "application/json")
	return kb.doHTTP(req)
}

func (kb *kvBench) doHTTP(req *http.Request) error {
	resp, err := kb.hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: status %d", req.URL.Path, resp.StatusCode)
	}
	return nil
}

func (kb *kvBench) webdisGet(path string) error {
	req, _ := http.NewRequest("GET", kb.webdis+path, nil)
	return kb.doHTTP(req)
}

// BenchmarkKVGetSet: a single GET and SET through the API, against webdis on
// the same Redis, a raw go-redis call and an empty net/http handler, at 1
// and 50 concurrent connections.
func BenchmarkKVGetSet(b *testing.B) {
	kb := newKVBench(b)
	ctx := context.Background()
	if err := kb.post("set", `{"key":"bench:k","value":"hello"}`); err != nil {
		b.Fatal(err)
	}
	full := kv.Prefix(kb.tenant) + kb.key
	esc := url.PathEscape(full)
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"value":"hello"}` + "\n"))
	}))
	defer empty.Close()
	for _, conc := range []int{1, 50} {
		b.Run(fmt.Sprintf("c=%d/mosaic_get", conc), func(b *testing.B) {
			load(b, conc, func() error { return kb.post("get", `{"key":"bench:k"}`) })
		})
		b.Run(fmt.Sprintf("c=%d/mosaic_set", conc), func(b *testing.B) {
			load(b, conc, func() error { return kb.post("set", `{"key":"bench:k","value":"hello"}`) })
		})
		if kb.webdis != "" {
			b.Run(fmt.Sprintf("c=%d/webdis_get", conc), func(b *testing.B) {
				load(b, conc, func() error { return kb.webdisGet("/GET/" + esc) })
			})
			b.Run(fmt.Sprintf("c=%d/webdis_set", conc), func(b *testing.B) {
				load(b, conc, func() error { return kb.webdisGet("/SET/" + esc + "/hello/EX/3600") })
			})
		}
		b.Run(fmt.Sprintf("c=%d/raw_goredis_get", conc), func(b *testing.B) {
			load(b, conc, func() error { return kb.rc.Get(ctx, full).Err() })
		})
		b.Run(fmt.Sprintf("c=%d/empty_nethttp", conc), func(b *testing.B) {
			load(b, conc, func() error {
				req, _ := http.NewRequest("POST", empty.URL, bytes.NewReader([]byte(`{"key":"bench:k"}`)))
				return kb.doHTTP(req)
			})
		})
	}
}

// BenchmarkKVBatch: a 50-key mget and mset against a single get, at c=1.
func BenchmarkKVBatch(b *testing.B) {
	kb := newKVBench(b)
	items := map[string]string{}
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprint("bench:k", i)
		items[keys[i]] = "value-" + strconv.Itoa(i)
	}
	mset, _ := json.Marshal(map[string]any{"items": items})
	mget, _ := json.Marshal(map[string]any{"keys": keys})
	if err := kb.post("mset", string(mset)); err != nil {
		b.Fatal(err)
	}
	b.Run("get_1", func(b *testing.B) { load(b, 1, func() error { return kb.post("get", `{"key":"bench:k0"}`) }) })
	b.Run("mget_50", func(b *testing.B) { load(b, 1, func() error { return kb.post("mget", string(mget)) }) })
	b.Run("mset_50", func(b *testing.B) { load(b, 1, func() error { return kb.post("mset", string(mset)) }) })
	if kb.webdis != "" {
		path := "/MGET"
		for _, k := range keys {
			path += "/" + url.PathEscape(kv.Prefix(kb.tenant)+k)
		}
		b.Run("webdis_mget_50", func(b *testing.B) { load(b, 1, func() error { return kb.webdisGet(path) }) })
	}
}

// BenchmarkKVListing: keys on a 100-key tenant while Redis holds 1M other
// keys, against SCAN MATCH prefix* over the keyspace; usage of a 1000-key
// tenant against raw pipelined MEMORY USAGE of its keys.
func BenchmarkKVListing(b *testing.B) {
	kb := newKVBench(b)
	ctx := context.Background()
	tn := kb.env.Platform
	k, err := tn.KV(ctx, kb.env.Account.ID, kb.slug)
	if err != nil {
		b.Fatal(err)
	}
	items := map[string]string{}
	for i := range 100 {
		items[fmt.Sprint("t:", i)] = "v"
		if len(items) == 50 {
			if err := k.MSet(ctx, items, 0); err != nil {
				b.Fatal(err)
			}
			clear(items)
		}
	}
	for _, total := range []int{10_000, 1_000_000} {
		n, _ := kb.rc.DBSize(ctx).Result()
		if int(n) < total {
			if err := kb.rc.Do(ctx, "DEBUG", "POPULATE", total, "other").Err(); err != nil {
				b.Skipf("DEBUG POPULATE is not allowed: %v", err)
			}
		}
		prefix := kv.Prefix(kb.tenant)
		pattern := `\{p:` + kb.tenant + `\}:t:*`
		b.Run(fmt.Sprintf("keys=%d/mosaic_keys_go", total), func(b *testing.B) {
			load(b, 1, func() error {
				keys, err := k.Keys(ctx, "t:*", 1000)
				if err == nil && len(keys) != 100 {
					err = fmt.Errorf("%d keys", len(keys))
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("keys=%d/mosaic_keys_http", total), func(b *testing.B) {
			load(b, 1, func() error { return kb.post("keys", `{"pattern":"t:*","count":1000}`) })
		})
		b.Run(fmt.Sprintf("keys=%d/raw_scan_match_count1000", total), func(b *testing.B) {
			load(b, 1, func() error {
				var found int
				iter := kb.rc.Scan(ctx, 0, pattern, 1000).Iterator()
				for iter.Next(ctx) {
					found++
				}
				if found != 100 && iter.Err() == nil {
					return fmt.Errorf("SCAN found %d keys under %s", found, prefix)
				}
				return iter.Err()
			})
		})
	}

	// usage: a 1000-key tenant.
	for i := 100; i < 1000; i++ {
		items[fmt.Sprint("t:", i)] = "v"
		if len(items) == 50 {
			if err := k.MSet(ctx, items, 0); err != nil {
				b.Fatal(err)
			}
			clear(items)
		}
	}
	full := make([]string, 1000)
	for i := range full {
		full[i] = kv.Prefix(kb.tenant) + fmt.Sprint("t:", i)
	}
	b.Run("usage_1000/mosaic_go", func(b *testing.B) {
		load(b, 1, func() error {
			u, err := k.Usage(ctx)
			if err == nil && u.KeyCount != 1000 {
				err = fmt.Errorf("%d keys", u.KeyCount)
			}
			return err
		})
	})
	b.Run("usage_1000/mosaic_http", func(b *testing.B) {
		load(b, 1, func() error {
			req, _ := http.NewRequest("GET", kb.apiBase+"usage", nil)
			req.Header.Set("X-API-Key", kb.env.APIKey)
			return kb.doHTTP(req)
		})
	})
	b.Run("usage_1000/raw_pipelined_memory_usage", func(b *testing.B) {
		load(b, 1, func() error {
			pipe := kb.rc.Pipeline()
			for _, k := range full {
				pipe.MemoryUsage(ctx, k, 0)
			}
			_, err := pipe.Exec(ctx)
			return err
		})
	})
}
