package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/docker"
	"github.com/mosaic-platform/mosaic/deployer/process"
	"github.com/mosaic-platform/mosaic/gitpush"
	"github.com/mosaic-platform/mosaic/internal/dockertest"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// deploySite serves {slug}.<domain> through Platform.ServeApp, as the site
// router does.
func deploySite(b *testing.B, p *mosaic.Platform) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if slug, ok := strings.CutSuffix(host, "."+p.Domain()); !ok || !p.ServeApp(w, r, slug) {
			http.NotFound(w, r)
		}
	}))
	b.Cleanup(srv.Close)
	return srv
}

func deployClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, DisableCompression: true}}
}

func deployFetch(hc *http.Client, url, host string) (string, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = host
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(body), err
}

var benchApps = map[string]func(marker string) [][2]string{
	"static": func(m string) [][2]string { return [][2]string{{"index.html", "<h1>" + m + "</h1>"}} },
	"node": func(m string) [][2]string {
		return [][2]string{{"package.json", `{"name":"b","main":"server.js"}`},
			{"server.js", "require('http').createServer((q, s) => s.end('" + m + "')).listen(process.env.PORT, '127.0.0.1')\n"}}
	},
	"go": func(m string) [][2]string {
		return [][2]string{{"go.mod", "module example.com/b\n\ngo 1.22\n"},
			{"main.go", `package main

import (
	"crypto/sha256"
	"net/http"
	"os"
	"strconv"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// ?work=N: N rounds of SHA-256 over 4 KiB, to stand for an app's own work.
		n, _ := strconv.Atoi(r.URL.Query().Get("work"))
		var buf [4096]byte
		for i := 0; i < n; i++ {
			sum := sha256.Sum256(buf[:])
			buf[0] = sum[0]
		}
		w.Write([]byte("` + m + `"))
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
`}}
	},
}

// BenchmarkDeployPushToServing measures, per stack on the process runtime,
// the time from a file push with "deploy": true to the site answering with
// the new version (warm caches: each iteration changes the app's answer).
//
//	cd bench && go test -run XXX -bench DeployPushToServing -benchtime 3x .
func BenchmarkDeployPushToServing(b *testing.B) {
	env := mosaictest.New(b)
	srv := deploySite(b, env.Platform)
	hc := deployClient()
	for _, stack := range []string{"static", "node", "go"} {
		b.Run(stack, func(b *testing.B) {
			cp := env.Project(b)
			host := cp.Slug + "." + env.Platform.Domain()
			ctx := context.Background()
			deployOnce := func(marker string) {
				files := benchApps[stack](marker)
				for i, f := range files {
					if _, _, err := env.Platform.PushFile(ctx, env.Account.ID, cp.Slug, gitpush.File{Path: f[0], Content: []byte(f[1])}, i == len(files)-1); err != nil {
						b.Fatal(err)
					}
				}
				deadline := time.Now().Add(5 * time.Minute)
				for {
					if body, _ := deployFetch(hc, srv.URL, host); strings.Contains(body, marker) {
						return
					}
					if time.Now().After(deadline) {
						st, _ := env.Platform.DeployLogs(ctx, env.Account.ID, cp.Slug)
						b.Fatalf("%s never served %s: %+v", stack, marker, st)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			deployOnce("warm-up") // fills the build caches (the Go standard library for CGO_ENABLED=0 -trimpath)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				deployOnce(fmt.Sprintf("version-%d-%d", i, time.Now().UnixNano()))
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/deploy")
		})
	}
}

// BenchmarkDeployProxy compares requests/s on a Go app's own port with
// requests/s through the {slug}.{domain} reverse proxy (Platform.ServeApp),
// 32 concurrent keep-alive clients each, for a hello-world answer (work=0)
// and for an answer that costs the app 100 rounds of SHA-256 over 4 KiB.
//
//	cd bench && go test -run XXX -bench DeployProxy -benchtime 5s .
func BenchmarkDeployProxy(b *testing.B) {
	env := mosaictest.New(b)
	srv := deploySite(b, env.Platform)
	ctx := context.Background()
	cp := env.Project(b)
	files := benchApps["go"]("hello from the app")
	for i, f := range files {
		if _, _, err := env.Platform.PushFile(ctx, env.Account.ID, cp.Slug, gitpush.File{Path: f[0], Content: []byte(f[1])}, i == len(files)-1); err != nil {
			b.Fatal(err)
		}
	}
	env.WaitDeploy(b, cp.Slug, deployer.StatusRunning)
	insts, err := env.Runtime.List(ctx, map[string]string{deployer.LabelProject: cp.ID.String()})
	if err != nil || len(insts) != 1 {
		b.Fatalf("instances %+v %v", insts, err)
	}
	host := cp.Slug + "." + env.Platform.Domain()
	// The peer anchor: a bare httputil.ReverseProxy to the same app, with
	// a transport tuned as the platform's, and nothing else.
	bare := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: insts[0].Addr})
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second, DisableCompression: true},
	})
	defer bare.Close()
	type target struct{ name, url string }
	var targets []target
	for _, work := range []string{"0", "100"} {
		targets = append(targets, target{"work=" + work + "/direct", "http://" + insts[0].Addr + "/?work=" + work},
			target{"work=" + work + "/proxy", srv.URL + "/?work=" + work},
			target{"work=" + work + "/bare_reverseproxy", bare.URL + "/?work=" + work})
	}
	for _, target := range targets {
		b.Run(target.name, func(b *testing.B) {
			hc := deployClient()
			if body, err := deployFetch(hc, target.url, host); err != nil || body != "hello from the app" {
				b.Fatalf("%q %v", body, err)
			}
			b.SetParallelism(16) // × GOMAXPROCS (2) = 32 clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := deployFetch(hc, target.url, host); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// dockerBenchApps are benchApps listening on all of the container's
// interfaces, as an app in a container must for its published port.
func dockerBenchApps(stack, marker string) [][2]string {
	files := benchApps[stack](marker)
	for i := range files {
		files[i][1] = strings.Replace(files[i][1], ".listen(process.env.PORT, '127.0.0.1')", ".listen(process.env.PORT)", 1)
		files[i][1] = strings.Replace(files[i][1], `"127.0.0.1:"+os.Getenv("PORT")`, `":"+os.Getenv("PORT")`, 1)
	}
	return files
}

// BenchmarkDeployPushToServingDocker is BenchmarkDeployPushToServing on the
// Docker runtime (the daemon of scripts/setup-docker, the images of
// deployer.LocalImages): a file push with "deploy": true until the site
// answers with the new version, after one warm-up deployment per stack.
// Each deployment builds an image (the Go app with the classic builder,
// every step before the copy of the source from the layer cache; the
// static site and the Node app, whose Dockerfiles have no RUN step, with a
// container commit) and swaps containers. With -v it logs the last
// deployment's build log, where the Manager notes the time of each phase.
//
//	cd bench && go test -run XXX -bench DeployPushToServingDocker -benchtime 3x .
func BenchmarkDeployPushToServingDocker(b *testing.B) {
	images := deployer.LocalImages()
	host := dockertest.SkipWithoutImages(b, images.GoBuilder, images.Node, images.Static)
	rt, err := docker.New(docker.Config{Host: host})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close() })
	// Static sites served by the platform (deployer.WithStaticSites, what
	// mosaic serve does on Docker by default) next to the container.
	static, err := process.New(process.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { static.Close() })
	env := mosaictest.New(b, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Runtime, c.DeployImages = rt, images
	}))
	split := mosaictest.New(b, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Runtime, c.DeployImages = deployer.WithStaticSites(rt, static), images
	}))
	hc := deployClient()
	for _, name := range []string{"static", "static_platform_served", "node", "go"} {
		stack, env := name, env
		if name == "static_platform_served" {
			stack, env = "static", split
		}
		srv := deploySite(b, env.Platform)
		b.Run(name, func(b *testing.B) {
			cp := env.Project(b)
			host := cp.Slug + "." + env.Platform.Domain()
			ctx := context.Background()
			deployOnce := func(marker string) {
				files := dockerBenchApps(stack, marker)
				for i, f := range files {
					if _, _, err := env.Platform.PushFile(ctx, env.Account.ID, cp.Slug, gitpush.File{Path: f[0], Content: []byte(f[1])}, i == len(files)-1); err != nil {
						b.Fatal(err)
					}
				}
				deadline := time.Now().Add(5 * time.Minute)
				for {
					if body, _ := deployFetch(hc, srv.URL, host); strings.Contains(body, marker) {
						return
					}
					if time.Now().After(deadline) {
						st, _ := env.Platform.DeployLogs(ctx, env.Account.ID, cp.Slug)
						b.Fatalf("%s never served %s: %+v", stack, marker, st)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			deployOnce("warm-up")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				deployOnce(fmt.Sprintf("version-%d-%d", i, time.Now().UnixNano()))
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/deploy")
			if testing.Verbose() {
				// The last deployment's build log, with the Manager's
				// timings of each phase.
				if logs, err := env.Platform.DeployLogs(ctx, env.Account.ID, cp.Slug); err == nil {
					b.Logf("build log of the last %s deployment:\n%s", stack, logs.Build)
				}
			}
		})
	}
}
