package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// authBench is a platform with the real argon2id parameters
// (authn.DefaultParams) and the auth throttles off, one project and one user.
type authBench struct {
	env   *mosaictest.Env
	slug  string
	url   string
	body  []byte
	hc    *http.Client
	email string
}

const benchPassword = "correct horse battery staple"

func newAuthBench(b *testing.B) *authBench {
	b.Helper()
	env := mosaictest.New(b, mosaictest.WithConfig(func(c *mosaic.Config) {
		off := -1
		c.AuthLimits = mosaic.AuthLimits{LoginPerEmail: off, LoginPerIP: off, ResetPerEmail: off, ResetPerIP: off, MagicLinkPerEmail: off, MagicLinkPerIP: off}
	}))
	cp := env.Project(b)
	ab := &authBench{env: env, slug: cp.Slug, email: "bench@example.com",
		url: env.BaseURL + "/" + cp.Slug + "/auth/login",
		hc:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}}
	ab.body = []byte(`{"email": "` + ab.email + `", "password": "` + benchPassword + `"}`)
	if _, err := env.Client.Auth(cp.Slug).Signup(context.Background(), client.SignupRequest{Email: ab.email, Password: benchPassword}); err != nil {
		b.Fatal(err)
	}
	return ab
}

func (ab *authBench) login(b *testing.B) {
	req, _ := http.NewRequest("POST", ab.url, bytes.NewReader(ab.body))
	req.Header.Set("X-API-Key", ab.env.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := ab.hc.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("login: %d", resp.StatusCode)
	}
}

// rawVerify is the anchor: one argon2id computation with the same
// parameters, which is what verifying a password costs.
func rawVerify() func() {
	p := authn.DefaultParams
	salt := make([]byte, 16)
	rand.Read(salt)
	return func() { argon2.IDKey([]byte(benchPassword), salt, p.Time, p.Memory, p.Threads, 32) }
}

func p50(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkAuthLogin: serial login latency over HTTP (POST
// /{slug}/auth/login) and in process (Platform.Auth(...).Login),
// interleaved with the anchor (one raw argon2id verify, same parameters)
// so that both see the same machine; reports each p50 and the ratio.
func BenchmarkAuthLogin(b *testing.B) {
	ab := newAuthBench(b)
	raw := rawVerify()
	ctx := context.Background()
	b.Run("http", func(b *testing.B) {
		var lr, lh []time.Duration
		for range b.N {
			t0 := time.Now()
			raw()
			t1 := time.Now()
			ab.login(b)
			lr, lh = append(lr, t1.Sub(t0)), append(lh, time.Since(t1))
		}
		b.ReportMetric(float64(p50(lh).Microseconds())/1000, "login-p50-ms")
		b.ReportMetric(float64(p50(lr).Microseconds())/1000, "raw-p50-ms")
		b.ReportMetric(float64(p50(lh))/float64(p50(lr)), "ratio")
	})
	b.Run("platform", func(b *testing.B) {
		var lr, lh []time.Duration
		for range b.N {
			t0 := time.Now()
			raw()
			t1 := time.Now()
			a, err := ab.env.Platform.Auth(ctx, ab.env.Account.ID, ab.slug)
			if err == nil {
				_, err = a.Login(ctx, ab.email, benchPassword, "")
			}
			if err != nil {
				b.Fatal(err)
			}
			lr, lh = append(lr, t1.Sub(t0)), append(lh, time.Since(t1))
		}
		b.ReportMetric(float64(p50(lh).Microseconds())/1000, "login-p50-ms")
		b.ReportMetric(float64(p50(lr).Microseconds())/1000, "raw-p50-ms")
		b.ReportMetric(float64(p50(lh))/float64(p50(lr)), "ratio")
	})
}

// BenchmarkAuthLoginThroughput: logins per second over HTTP with 16
// clients on GOMAXPROCS cores, against the anchor of GOMAXPROCS goroutines
// doing raw argon2id verifies.
func BenchmarkAuthLoginThroughput(b *testing.B) {
	ab := newAuthBench(b)
	b.Run("http", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ab.login(b)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	})
	b.Run("raw", func(b *testing.B) {
		raw := rawVerify()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				raw()
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
	})
}

// BenchmarkAuthLoginFlood: 20, then 200 logins at once over HTTP; a sampler records
// the peak heap (runtime) and the peak RSS of the process (server, client
// and benchmark together) above the level before the flood. Hashing slots
// are GOMAXPROCS, so the hashes' memory is at most GOMAXPROCS × 19 MiB.
func BenchmarkAuthLoginFlood(b *testing.B) {
	ab := newAuthBench(b)
	for _, n := range []int{20, 200} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { ab.flood(b, n) })
	}
}

func (ab *authBench) flood(b *testing.B, n int) {
	for range b.N {
		ab.login(b) // warm: connections, pools, the tables
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		baseHeap, baseRSS := ms.HeapInuse, rss()
		var (
			peakHeap, peakRSS atomic.Uint64
			stop              = make(chan struct{})
			done              = make(chan struct{})
		)
		go func() {
			defer close(done)
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			for {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peakHeap.Load() {
					peakHeap.Store(m.HeapInuse)
				}
				if r := rss(); r > peakRSS.Load() {
					peakRSS.Store(r)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		var wg sync.WaitGroup
		start := time.Now()
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); ab.login(b) }()
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(stop)
		<-done
		mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
		b.ReportMetric(mib(peakHeap.Load()-min(baseHeap, peakHeap.Load())), "peak-heap-over-base-MiB")
		b.ReportMetric(mib(peakRSS.Load()-min(baseRSS, peakRSS.Load())), "peak-rss-over-base-MiB")
		b.ReportMetric(mib(peakRSS.Load()), "peak-rss-MiB")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "logins/s")
		b.ReportMetric(float64(runtime.GOMAXPROCS(0))*19, "bound-MiB")
	}
}

// rss returns the process's resident set size in bytes (Linux).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}
