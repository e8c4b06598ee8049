package mosaic_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// chaos runs f from n goroutines at once, each with its own random source
// drawn from one seed that it logs (a failing mix of operations can be
// replayed, up to the scheduling), and waits for them all.
func chaos(t *testing.T, n int, f func(w int, rng *rand.Rand)) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w, rand.New(rand.NewPCG(seed, uint64(w))))
		}()
	}
	wg.Wait()
}
