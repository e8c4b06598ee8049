package bench

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// paired compares two ways of serving the same calls on a machine whose
// other tenants come and go: it runs rounds of n calls of ours then n
// calls of the anchor (alternating which goes first), each over conc
// goroutines, and reports the median and quartiles over the rounds of
// ours' throughput over the anchor's ("ratio"), with each side's median
// throughput. The neighbours' load moves both halves of a round alike, so
// the ratio holds still where two separate runs a minute apart can differ
// by a third. It runs its rounds once, whatever b.N is.
func paired(b *testing.B, conc, rounds, n int, ours, anchor func() error) {
	b.Helper()
	run := func(fn func() error) float64 {
		var next atomic.Int64
		var failed atomic.Pointer[error]
		var wg sync.WaitGroup
		start := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if err := fn(); err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			b.Fatal(*err)
		}
		return float64(n) / time.Since(start).Seconds()
	}
	run(ours) // warm both: connections, caches
	run(anchor)
	var ratios, a, z []float64
	b.ResetTimer()
	for i := range rounds {
		var ro, ra float64
		if i%2 == 0 {
			ro, ra = run(ours), run(anchor)
		} else {
			ra, ro = run(anchor), run(ours)
		}
		ratios, a, z = append(ratios, ro/ra), append(a, ro), append(z, ra)
	}
	b.StopTimer()
	for _, s := range [][]float64{ratios, a, z} {
		slices.Sort(s)
	}
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
	b.ReportMetric(ratios[len(ratios)/4], "ratio-p25")
	b.ReportMetric(ratios[len(ratios)*3/4], "ratio-p75")
	b.ReportMetric(a[len(a)/2], "ours-req/s")
	b.ReportMetric(z[len(z)/2], "anchor-req/s")
}
