package gitpush_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/gitpush"
)

// BenchmarkPutFile measures PutFile (one file, one commit) sequentially on
// one repository, with 20 writers on one repository, and with 20 writers on
// 20 repositories. It reports the median latency and commits per second.
//
//	go test -run '^$' -bench PutFile -benchtime 200x ./gitpush/
func BenchmarkPutFile(b *testing.B) {
	run := func(b *testing.B, writers, repos int) {
		e := newEnv(b)
		projects := make([]string, repos)
		for i := range projects {
			projects[i] = fmt.Sprintf("bench-%02d", i)
			e.create(projects[i])
		}
		var (
			mu   sync.Mutex
			lats []time.Duration
			seq  atomic.Int64
		)
		start := time.Now()
		b.ResetTimer()
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for w := range writers {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(b.N) {
						return
					}
					p := projects[(int(i)+w)%repos]
					t0 := time.Now()
					_, err := e.l.PutFile(b.Context(), p, gitpush.File{
						Path: fmt.Sprintf("d%d/f%d.txt", i%10, seq.Add(1)), Content: []byte("some content\n")})
					d := time.Since(t0)
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					lats = append(lats, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		slices.Sort(lats)
		if len(lats) > 0 {
			b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99_ms")
		}
		b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "commits/s")
	}
	b.Run("1repo_1writer", func(b *testing.B) { run(b, 1, 1) })
	b.Run("1repo_20writers", func(b *testing.B) { run(b, 20, 1) })
	b.Run("20repos_20writers", func(b *testing.B) { run(b, 20, 20) })
}

// BenchmarkClone1000Files clones a 1,000-file repository through the HTTP
// handler (git's default protocol v2) and, as the baseline, with
// git clone file:// from the repository on disk (same pack protocol, no
// HTTP, no hardlinks).
//
//	go test -run '^$' -bench Clone -benchtime 20x ./gitpush/
func BenchmarkClone1000Files(b *testing.B) {
	e := newEnv(b)
	e.create("clone-bench")
	src := e.clone("clone-bench")
	for i := range 1000 {
		writeFile(b, filepath.Join(src, fmt.Sprintf("dir%02d", i%50), fmt.Sprintf("file%04d.txt", i)),
			[]byte(fmt.Sprintf("file %d\n%s\n", i, bytesOf(i))))
	}
	e.git(src, "add", ".")
	e.git(src, "commit", "--quiet", "-m", "1000 files")
	e.git(src, "push", "--quiet", "origin", "main")
	<-e.events

	clone := func(b *testing.B, url string) {
		for b.Loop() {
			dir := filepath.Join(b.TempDir(), "c")
			e.git("", "clone", "--quiet", url, dir)
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
	}
	b.Run("http_handler", func(b *testing.B) { clone(b, e.url("clone-bench", testUser, testPass)) })
	b.Run("file_url", func(b *testing.B) { clone(b, "file://"+e.repoDir("clone-bench")) })
}

func bytesOf(i int) string {
	b := make([]byte, 200)
	for j := range b {
		b[j] = byte('a' + (i*7+j*13)%26)
	}
	return string(b)
}
