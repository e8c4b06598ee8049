package docker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/docker"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/internal/dockertest"
)

var images = deployer.LocalImages()

// setup skips without a daemon or the images, and returns a Runtime and a
// plain client for checking what the Runtime did.
func setup(t *testing.T, cfg docker.Config, need ...string) (*docker.Runtime, *client.Client) {
	t.Helper()
	host := dockertest.SkipWithoutImages(t, need...)
	cfg.Host = host
	rt, err := docker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := rt.Ping(ctx)
	if err != nil {
		t.Fatalf("Ping: %v", err)
	}
	t.Logf("Docker at %s, API %s", host, v)
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return rt, cli
}

func uniq(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// srcTar is a tar of files, like gitpush's archive of a commit.
func srcTar(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// syncBuf is a buffer safe for a writer goroutine and a reading test.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// buildLabels are labels for one build of its own, as the Manager gives
// them: managed, and a project of its own (builds that share labels share
// their cached steps, and one's removal may prune what another builds on).
func buildLabels() map[string]string {
	return map[string]string{deployer.LabelManaged: "true", deployer.LabelProject: uniq("prj")}
}

// build builds files with dockerfile and registers the image's removal.
func build(t *testing.T, rt *docker.Runtime, files map[string]string, dockerfile string) (deployer.Artifact, string) {
	t.Helper()
	return buildWith(t, rt, files, dockerfile, buildLabels())
}

func buildWith(t *testing.T, rt *docker.Runtime, files map[string]string, dockerfile string, labels map[string]string) (deployer.Artifact, string) {
	t.Helper()
	tag := uniq("mosaic-test/app") + ":v1"
	var logs syncBuf
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	art, err := rt.Build(ctx, deployer.BuildSpec{
		Tag:    tag,
		Plan:   deployer.Plan{Dockerfile: dockerfile},
		Source: srcTar(t, files),
		Labels: labels,
		Logs:   &logs,
	})
	t.Cleanup(func() { _ = rt.RemoveArtifact(context.Background(), tag) })
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, logs.String())
	}
	t.Logf("built %s (%s) in %v", tag, art.ID, time.Since(start).Round(time.Millisecond))
	if art.Ref != tag || !strings.HasPrefix(art.ID, "sha256:") {
		t.Fatalf("Artifact = %+v, want Ref %q and a sha256 id", art, tag)
	}
	return art, logs.String()
}

// run starts art with a plan's limits and registers the container's removal.
func run(t *testing.T, rt *docker.Runtime, art deployer.Artifact, labels map[string]string) deployer.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := rt.Run(ctx, deployer.RunSpec{
		Name:        uniq("mosaic-test"),
		Artifact:    art.Ref,
		Env:         map[string]string{"GREETING": "hello", "PORT": "1"},
		Port:        8080,
		MemoryBytes: 512 << 20,
		NanoCPUs:    500_000_000,
		Labels:      labels,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), in.ID) })
	if in.State != deployer.StateRunning {
		t.Fatalf("Run: state %q, want running", in.State)
	}
	assertLoopback(t, in.Addr)
	return in
}

func assertLoopback(t *testing.T, addr string) {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr = %q, want 127.0.0.1:<port>", addr)
	}
}

// get polls http://addr/path until it answers 200 (the app may still be
// starting), and returns the body.
func get(t *testing.T, addr, path string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + addr + path)
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("%s: %s", res.Status, body)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET http://%s%s: %v", addr, path, last)
	return ""
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const goMain = `package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
)

// cgroup returns the first readable file of names under /sys/fs/cgroup.
func cgroup(names ...string) string {
	for _, n := range names {
		if b, err := os.ReadFile("/sys/fs/cgroup/" + n); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return "?"
}

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s from go", os.Getenv("GREETING"))
	})
	http.HandleFunc("/limits", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "memory=%s\ncpu=%s %s\n",
			cgroup("memory/memory.limit_in_bytes", "memory.max"),
			cgroup("cpu/cpu.cfs_quota_us", "cpu,cpuacct/cpu.cfs_quota_us", "cpu.max"),
			cgroup("cpu/cpu.cfs_period_us", "cpu,cpuacct/cpu.cfs_period_us"))
	})
	http.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("note %s", r.URL.Query().Get("msg"))
	})
	log.Printf("listening on :%s", os.Getenv("PORT"))
	log.Fatal(http.ListenAndServe(":"+os.Getenv("PORT"), nil))
}
`

func goDockerfile() string {
	return `FROM ` + images.GoBuilder + ` AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /app .
FROM scratch
COPY --from=build /app /app
CMD ["/app"]
`
}

// TestGoApp builds a Go app into a FROM scratch image, runs it with a plan's
// limits, and walks it through its whole lifecycle.
func TestGoApp(t *testing.T) {
	t.Parallel()
	rt, cli := setup(t, docker.Config{}, images.GoBuilder)
	ctx := context.Background()
	files := map[string]string{"go.mod": "module example.com/app\n\ngo 1.26\n", "main.go": goMain}
	bl := buildLabels()
	art, logs := buildWith(t, rt, files, goDockerfile(), bl)
	if !strings.Contains(logs, "Step 1/") || !strings.Contains(logs, "go build") {
		t.Errorf("build log lacks the steps:\n%s", logs)
	}
	// The image and the builder stage's image are labelled with the
	// project (nothing unlabelled left behind); the stage's is tagged.
	stageTag := art.Ref + docker.StageTagSuffix + "0"
	for _, ref := range []string{art.Ref, stageTag} {
		ins, err := cli.ImageInspect(ctx, ref)
		if err != nil || ins.Config.Labels[deployer.LabelProject] != bl[deployer.LabelProject] {
			t.Fatalf("image %s: %v (labels %v), want the build's labels", ref, err, ins.Config)
		}
	}
	made := dockertest.BuiltImages(logs)
	if len(made) < 3 {
		t.Fatalf("build log names %d images made, want the steps' images:\n%s", len(made), logs)
	}
	deployment := uniq("dep")
	project := uniq("prj")
	labels := map[string]string{deployer.LabelProject: project, deployer.LabelDeployment: deployment, deployer.LabelSlug: "shop"}
	start := time.Now()
	in := run(t, rt, art, labels)
	if got := get(t, in.Addr, "/"); got != "hello from go" {
		t.Fatalf("GET / = %q", got)
	}
	t.Logf("run to first response: %v", time.Since(start).Round(time.Millisecond))

	// The limits, labels, port binding and environment, as Docker has them.
	ins, err := cli.ContainerInspect(ctx, in.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := ins.Container.HostConfig
	if hc.Memory != 512<<20 || hc.NanoCPUs != 500_000_000 || hc.MemorySwap != 512<<20 {
		t.Errorf("HostConfig Memory=%d NanoCpus=%d MemorySwap=%d, want 512 MiB, 0.5 CPU, no swap", hc.Memory, hc.NanoCPUs, hc.MemorySwap)
	}
	if in.MemoryBytes != 512<<20 || in.NanoCPUs != 500_000_000 {
		t.Errorf("Instance limits = %d/%d", in.MemoryBytes, in.NanoCPUs)
	}
	if hc.RestartPolicy.Name != "unless-stopped" {
		t.Errorf("restart policy %q", hc.RestartPolicy.Name)
	}
	for port, bindings := range hc.PortBindings {
		for _, b := range bindings {
			if !b.HostIP.IsLoopback() {
				t.Errorf("port %v bound on %v, want 127.0.0.1 only", port, b.HostIP)
			}
		}
	}
	for k, v := range labels {
		if ins.Container.Config.Labels[k] != v || in.Labels[k] != v {
			t.Errorf("label %s = %q (instance %q), want %q", k, ins.Container.Config.Labels[k], in.Labels[k], v)
		}
	}
	if ins.Container.Config.Labels[deployer.LabelManaged] != "true" {
		t.Errorf("label %s missing", deployer.LabelManaged)
	}
	env := strings.Join(ins.Container.Config.Env, "\n")
	if !strings.Contains(env, "PORT=8080") || strings.Contains(env, "PORT=1\n") || !strings.Contains(env, "GREETING=hello") {
		t.Errorf("env:\n%s", env)
	}

	// The kernel enforces them: the container's own cgroup files...
	limits := get(t, in.Addr, "/limits")
	if !strings.Contains(limits, "memory=536870912") || !(strings.Contains(limits, "cpu=50000 100000") || strings.Contains(limits, "cpu=50000 100000 ?")) {
		t.Errorf("cgroup files in the container:\n%s", limits)
	}
	// ...and the host's, where this process can read them.
	checkHostCgroup(t, in.ID)

	// Logs: the app's startup line, then a line made on demand while following.
	var out syncBuf
	if err := rt.Logs(ctx, in.ID, false, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "listening on :8080") {
		t.Fatalf("logs: %q", out.String())
	}
	fctx, cancel := context.WithCancel(ctx)
	var follow syncBuf
	done := make(chan error, 1)
	go func() { done <- rt.Logs(fctx, in.ID, true, &follow) }()
	get(t, in.Addr, "/log?msg=followed-line")
	waitFor(t, "the followed log line", func() bool { return strings.Contains(follow.String(), "note followed-line") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Logs(follow) after cancel = %v", err)
	}

	// Restart keeps the address.
	in2, err := rt.Restart(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if in2.Addr != in.Addr || in2.State != deployer.StateRunning {
		t.Fatalf("after Restart: %+v, want running at %s", in2, in.Addr)
	}
	get(t, in2.Addr, "/")

	// Stop: stopped, no address; Start: the same address again.
	if err := rt.Stop(ctx, in.ID, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := rt.Inspect(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != deployer.StateStopped || st.Addr != "" {
		t.Fatalf("after Stop: state %q addr %q", st.State, st.Addr)
	}
	if _, err := net.DialTimeout("tcp", in.Addr, time.Second); err == nil {
		t.Errorf("a stopped instance still accepts connections on %s", in.Addr)
	}
	in3, err := rt.Start(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if in3.Addr != in.Addr || in3.State != deployer.StateRunning {
		t.Fatalf("after Start: %+v", in3)
	}
	get(t, in3.Addr, "/")

	// A new Runtime (the platform restarted) finds it by its labels.
	rt2, err := docker.New(docker.Config{Host: mustHost(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	found, err := rt2.List(ctx, map[string]string{deployer.LabelProject: project})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].ID != in.ID || found[0].Addr != in.Addr || found[0].Labels[deployer.LabelDeployment] != deployment ||
		found[0].MemoryBytes != 512<<20 || found[0].Artifact != art.Ref || found[0].StartedAt.IsZero() {
		t.Fatalf("List by project = %+v, want the one instance %s at %s", found, in.ID, in.Addr)
	}
	if got := get(t, found[0].Addr, "/"); got != "hello from go" {
		t.Fatalf("GET / after rehydration = %q", got)
	}
	if other, err := rt2.List(ctx, map[string]string{deployer.LabelProject: project, deployer.LabelDeployment: "other"}); err != nil || len(other) != 0 {
		t.Fatalf("List with a label that does not match = %+v, %v", other, err)
	}

	// The image is in use: it cannot go first.
	if err := rt.RemoveArtifact(ctx, art.Ref); errs.KindOf(err) != errs.Conflict {
		t.Fatalf("RemoveArtifact of an image in use = %v, want a conflict", err)
	}
	// Remove leaves no container; RemoveArtifact no image.
	if err := rt.Remove(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerInspect(ctx, in.ID, client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("container after Remove: %v", err)
	}
	if _, err := rt.Inspect(ctx, in.ID); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("Inspect after Remove = %v, want not found", err)
	}
	if err := rt.Remove(ctx, in.ID); err != nil {
		t.Fatalf("second Remove = %v, want nil", err)
	}
	if err := rt.RemoveArtifact(ctx, art.Ref); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ImageInspect(ctx, art.ID); !cerrdefs.IsNotFound(err) {
		t.Fatalf("image after RemoveArtifact: %v", err)
	}
	// Nothing of the build is left: not the builder stage, not the
	// images of the steps (no dangling image).
	noImagesLeft(t, cli, bl, made)
	if found, err := rt2.List(ctx, map[string]string{deployer.LabelProject: project}); err != nil || len(found) != 0 {
		t.Fatalf("List after Remove = %+v, %v", found, err)
	}
}

// noImagesLeft checks that no image (intermediate ones included) carries
// the project label of labels, and that none of the images in made exists.
func noImagesLeft(t *testing.T, cli *client.Client, labels map[string]string, made []string) {
	t.Helper()
	ctx := context.Background()
	f := client.Filters{}.Add("label", deployer.LabelProject+"="+labels[deployer.LabelProject])
	res, err := cli.ImageList(ctx, client.ImageListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range res.Items {
		t.Errorf("image %s (tags %v) of the build is still there", im.ID, im.RepoTags)
	}
	for _, id := range made {
		if _, err := cli.ImageInspect(ctx, id); !cerrdefs.IsNotFound(err) {
			t.Errorf("image %s made by the build is still there (%v)", id, err)
		}
	}
}

func mustHost(t *testing.T) string {
	h, err := dockertest.Host()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// checkHostCgroup reads the container's limits from the host's cgroup tree
// when this process can see it (cgroup v1 with the cgroupfs driver, or v2).
func checkHostCgroup(t *testing.T, id string) {
	t.Helper()
	type file struct{ path, want string }
	candidates := [][]file{
		{{"/sys/fs/cgroup/memory/docker/" + id + "/memory.limit_in_bytes", "536870912"},
			{"/sys/fs/cgroup/cpu/docker/" + id + "/cpu.cfs_quota_us", "50000"}},
		{{"/sys/fs/cgroup/docker/" + id + "/memory.max", "536870912"},
			{"/sys/fs/cgroup/docker/" + id + "/cpu.max", "50000 100000"}},
		{{"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/memory.max", "536870912"},
			{"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/cpu.max", "50000 100000"}},
	}
	for _, set := range candidates {
		if _, err := os.Stat(set[0].path); err != nil {
			continue
		}
		for _, f := range set {
			b, err := os.ReadFile(f.path)
			if err != nil {
				t.Errorf("read %s: %v", f.path, err)
				continue
			}
			if got := strings.TrimSpace(string(b)); got != f.want {
				t.Errorf("%s = %q, want %q", f.path, got, f.want)
			}
		}
		return
	}
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/*" + id[:12] + "*")
	t.Logf("host cgroup files of %s not at a known path (found %v); checked inside the container only", id[:12], matches)
}

func TestNodeApp(t *testing.T) {
	t.Parallel()
	rt, _ := setup(t, docker.Config{}, images.Node)
	files := map[string]string{
		"package.json": `{"name":"app","version":"1.0.0","main":"server.js"}`,
		"server.js": `const http = require("http");
http.createServer((req, res) => res.end(process.env.GREETING + " from node " + process.version))
  .listen(process.env.PORT, () => console.log("listening on " + process.env.PORT));
`,
	}
	art, _ := build(t, rt, files, "FROM "+images.Node+"\nWORKDIR /app\nCOPY . .\nCMD [\"node\", \"server.js\"]\n")
	in := run(t, rt, art, map[string]string{deployer.LabelProject: uniq("prj")})
	if got := get(t, in.Addr, "/"); !strings.HasPrefix(got, "hello from node v") {
		t.Fatalf("GET / = %q", got)
	}
}

func TestStaticSite(t *testing.T) {
	t.Parallel()
	rt, _ := setup(t, docker.Config{}, images.Static)
	page := "<!doctype html><title>shop</title><h1>static " + uniq("page") + "</h1>\n"
	files := map[string]string{"index.html": page, "css/site.css": "h1{color:teal}\n"}
	art, _ := build(t, rt, files, "FROM "+images.Static+"\nCOPY . /srv\nCMD busybox httpd -f -p $PORT -h /srv\n")
	start := time.Now()
	in := run(t, rt, art, map[string]string{deployer.LabelProject: uniq("prj")})
	if got := get(t, in.Addr, "/"); got != page {
		t.Fatalf("GET / = %q, want %q", got, page)
	}
	t.Logf("run to first response: %v", time.Since(start).Round(time.Millisecond))
	if got := get(t, in.Addr, "/css/site.css"); got != files["css/site.css"] {
		t.Fatalf("GET /css/site.css = %q", got)
	}
}

// TestBuildFailure: a compile error fails the build with the compiler's
// message in the error and in the log, and leaves no image.
func TestBuildFailure(t *testing.T) {
	t.Parallel()
	rt, cli := setup(t, docker.Config{}, images.GoBuilder)
	files := map[string]string{
		"go.mod":  "module example.com/broken\n\ngo 1.26\n",
		"main.go": "package main\n\nfunc main() {\n\tnoSuchFunction()\n}\n",
	}
	tag := uniq("mosaic-test/broken") + ":v1"
	var logs syncBuf
	bl := buildLabels()
	_, err := rt.Build(context.Background(), deployer.BuildSpec{
		Tag: tag, Plan: deployer.Plan{Dockerfile: goDockerfile()}, Source: srcTar(t, files), Labels: bl, Logs: &logs,
	})
	t.Cleanup(func() { _ = rt.RemoveArtifact(context.Background(), tag) })
	if err == nil {
		t.Fatal("Build of a broken app succeeded")
	}
	if errs.KindOf(err) != errs.Invalid || !strings.Contains(err.Error(), "undefined: noSuchFunction") {
		t.Fatalf("Build error = %v (kind %v), want invalid with the compiler's message", err, errs.KindOf(err))
	}
	if !strings.Contains(logs.String(), "undefined: noSuchFunction") {
		t.Fatalf("build log lacks the compiler's message:\n%s", logs.String())
	}
	if _, err := cli.ImageInspect(context.Background(), tag); !cerrdefs.IsNotFound(err) {
		t.Fatalf("image %s after a failed build: %v", tag, err)
	}
	// The steps that finished (the label, WORKDIR, COPY) left no image.
	made := dockertest.BuiltImages(logs.String())
	if len(made) < 2 {
		t.Fatalf("build log names %d images made:\n%s", len(made), logs.String())
	}
	noImagesLeft(t, cli, bl, made)

	// A Dockerfile naming an image that is not here fails too (no registry).
	_, err = rt.Build(context.Background(), deployer.BuildSpec{
		Tag: tag, Plan: deployer.Plan{Dockerfile: "FROM mosaic-local/no-such-image:never\n"}, Source: srcTar(t, files),
	})
	if err == nil {
		t.Fatal("Build FROM a missing image succeeded")
	}
	if _, err := rt.Build(context.Background(), deployer.BuildSpec{Tag: tag, Source: srcTar(t, files)}); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("Build without a Dockerfile = %v, want invalid", err)
	}
}

// TestExitedAndErrors: an app that exits by itself is "exited"; bad calls
// fail with the errs kinds callers act on.
func TestExitedAndErrors(t *testing.T) {
	t.Parallel()
	rt, _ := setup(t, docker.Config{RestartPolicy: "on-failure", MaxRetries: 1}, images.Static)
	ctx := context.Background()
	art, _ := build(t, rt, nil, "FROM "+images.Static+"\nCMD echo boom; exit 3\n")
	name := uniq("mosaic-test")
	in, err := rt.Run(ctx, deployer.RunSpec{Name: name, Artifact: art.Ref, Port: 8080, MemoryBytes: 64 << 20, NanoCPUs: 1e8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Remove(context.Background(), in.ID) })
	var st deployer.Instance
	waitFor(t, "the app to give up", func() bool {
		st, err = rt.Inspect(ctx, in.ID)
		return err == nil && st.State == deployer.StateExited && st.Addr == ""
	})
	var logs bytes.Buffer
	if err := rt.Logs(ctx, in.ID, false, &logs); err != nil || !strings.Contains(logs.String(), "boom") {
		t.Fatalf("logs = %q, %v", logs.String(), err)
	}

	// Same name again: a conflict. Port 0: invalid. Missing image: not found.
	_, err = rt.Run(ctx, deployer.RunSpec{Name: name, Artifact: art.Ref, Port: 8080})
	if errs.KindOf(err) != errs.Conflict {
		t.Fatalf("Run with a taken name = %v, want conflict", err)
	}
	if _, err := rt.Run(ctx, deployer.RunSpec{Name: uniq("x"), Artifact: art.Ref}); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("Run without a port = %v, want invalid", err)
	}
	if _, err := rt.Run(ctx, deployer.RunSpec{Name: uniq("x"), Artifact: "mosaic-local/no-such-image:never", Port: 80}); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("Run of a missing image = %v, want not found", err)
	}
	for what, err := range map[string]error{
		"Inspect": func() error { _, err := rt.Inspect(ctx, "no-such-container"); return err }(),
		"Stop":    rt.Stop(ctx, "no-such-container", time.Second),
		"Start":   func() error { _, err := rt.Start(ctx, "no-such-container"); return err }(),
		"Logs":    rt.Logs(ctx, "no-such-container", false, io.Discard),
	} {
		if errs.KindOf(err) != errs.NotFound {
			t.Errorf("%s of a missing container = %v, want not found", what, err)
		}
	}
	if err := rt.RemoveArtifact(ctx, "mosaic-local/no-such-image:never"); err != nil {
		t.Errorf("RemoveArtifact of a missing image = %v, want nil", err)
	}
}

// TestNoDaemon: a daemon that does not answer is errs.Unavailable.
func TestNoDaemon(t *testing.T) {
	rt, err := docker.New(docker.Config{Host: "unix://" + filepath.Join(t.TempDir(), "none.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := rt.Ping(ctx); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("Ping = %v, want unavailable", err)
	}
	if _, err := rt.List(ctx, nil); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("List = %v, want unavailable", err)
	}
	if _, err := docker.New(docker.Config{RestartPolicy: "always"}); err == nil {
		t.Fatal("New accepted restart policy always")
	}
	var e *errs.Error
	if _, err := rt.Ping(ctx); !errors.As(err, &e) {
		t.Fatalf("Ping error %T is not an *errs.Error", err)
	}
}

// TestGeneratedDockerfiles builds and serves apps from the Dockerfiles the
// deployer generates (deployer.Detect + deployer.Dockerfile) on the local
// images.
func TestGeneratedDockerfiles(t *testing.T) {
	t.Parallel()
	apps := []struct {
		name   string
		image  string
		files  map[string]string
		stack  deployer.Stack
		prefix string // of GET /
	}{
		{"go", images.GoBuilder, map[string]string{
			"go.mod":  "module example.com/gen\n\ngo 1.26\n",
			"main.go": "package main\n\nimport (\n\t\"net/http\"\n\t\"os\"\n)\n\nfunc main() {\n\thttp.HandleFunc(\"/\", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(\"generated go\")) })\n\thttp.ListenAndServe(\":\"+os.Getenv(\"PORT\"), nil)\n}\n",
		}, deployer.StackGo, "generated go"},
		{"node", images.Node, map[string]string{
			"package.json": `{"name":"gen","version":"1.0.0","scripts":{"start":"node index.js"}}`,
			"index.js":     `require("http").createServer((q, s) => s.end("generated node")).listen(process.env.PORT);` + "\n",
		}, deployer.StackNode, "generated node"},
		{"static", images.Static, map[string]string{
			"index.html": "generated static\n",
		}, deployer.StackStatic, "generated static"},
	}
	for _, app := range apps {
		t.Run(app.name, func(t *testing.T) {
			t.Parallel()
			// The builder, always: the generated Dockerfile is the recipe
			// (TestBuildWithoutBuilder compares the shortcut with it).
			rt, _ := setup(t, docker.Config{AlwaysBuild: true}, app.image)
			plan := detect(t, app.files)
			if plan.Stack != app.stack {
				t.Fatalf("Detect: stack %q, want %q", plan.Stack, app.stack)
			}
			dockerfile := deployer.Dockerfile(plan, images)
			bl := buildLabels()
			start := time.Now()
			art, logs := buildWith(t, rt, app.files, dockerfile, bl)
			in := run(t, rt, art, map[string]string{deployer.LabelProject: uniq("prj")})
			if got := get(t, in.Addr, "/"); !strings.HasPrefix(got, app.prefix) {
				t.Fatalf("GET / = %q, want %q\nDockerfile:\n%s\nbuild log:\n%s", got, app.prefix, dockerfile, logs)
			}
			t.Logf("%s: source to first response %v", app.name, time.Since(start).Round(time.Millisecond))

			// A redeploy (new source, same labels) takes every step before
			// the copy of the source from the cache.
			files := map[string]string{}
			for name, body := range app.files {
				files[name] = body
			}
			files["version.txt"] = "2\n"
			_, logs2 := buildWith(t, rt, files, dockerfile, bl)
			if steps := uncachedBeforeSource(logs2); len(steps) > 0 {
				t.Errorf("the second build missed the cache before the copy of the source at %q:\n%s", steps, logs2)
			}
		})
	}
}

// uncachedBeforeSource returns the steps of a build log that come, in
// their stage, before the copy of the source ("COPY . " or "COPY --from")
// and did not hit the cache (FROM aside), and the instructions that need
// no source but come after that copy (each one a cache miss at every
// build).
func uncachedBeforeSource(log string) []string {
	var missed []string
	step := ""
	inStage, checking, cached, copies := false, false, false, 0
	done := func() {
		if checking && !cached {
			missed = append(missed, step)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if rest, ok := strings.CutPrefix(line, "Step "); ok {
			done()
			_, step, _ = strings.Cut(rest, " : ")
			from := strings.HasPrefix(strings.ToUpper(step), "FROM ")
			source := strings.HasPrefix(step, "COPY . ") || strings.HasPrefix(step, "COPY --from")
			checking, cached = inStage && !from && !source, false
			if f := strings.Fields(step); !inStage && !from && len(f) > 0 {
				switch strings.ToUpper(f[0]) {
				case "WORKDIR", "ENV", "EXPOSE", "CMD", "ENTRYPOINT", "LABEL", "USER":
					missed = append(missed, step+" (after the copy of the source)")
				}
			}
			switch {
			case from:
				inStage = true
			case source:
				inStage = false
				copies++
			}
			continue
		}
		if line == " ---> Using cache" {
			cached = true
		}
	}
	done()
	if copies == 0 {
		missed = append(missed, "(no COPY of the source)")
	}
	return missed
}

// detect is deployer.Detect of a tree given as name → content.
func detect(t *testing.T, files map[string]string) deployer.Plan {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body), Mode: 0o644}
	}
	plan, err := deployer.Detect(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestBuildWithoutBuilder: the Dockerfiles with no RUN step (a static site,
// a Node app without dependencies) are made without the builder, into an
// image with the configuration and the files the builder gives them.
func TestBuildWithoutBuilder(t *testing.T) {
	t.Parallel()
	apps := []struct {
		name, image string
		files       map[string]string
		paths       []string // GET each, same answer from both images
	}{
		{"static", images.Static, map[string]string{
			"index.html": "<h1>same</h1>\n", "css/site.css": "h1{color:teal}\n", "a/b/c.txt": "deep\n",
		}, []string{"/", "/css/site.css", "/a/b/c.txt"}},
		{"node", images.Node, map[string]string{
			"package.json": `{"name":"same","version":"1.0.0","main":"server.js"}`,
			"server.js":    `require("http").createServer((q, s) => s.end(process.cwd() + " " + process.env.NODE_ENV + " " + require("fs").readFileSync("lib/x.txt"))).listen(process.env.PORT);` + "\n",
			"lib/x.txt":    "x",
		}, []string{"/"}},
	}
	for _, app := range apps {
		t.Run(app.name, func(t *testing.T) {
			t.Parallel()
			builder, cli := setup(t, docker.Config{AlwaysBuild: true}, app.image)
			direct, _ := setup(t, docker.Config{}, app.image)
			plan := detect(t, app.files)
			dockerfile := deployer.Dockerfile(plan, images)
			bl := buildLabels()
			viaBuilder, blog := buildWith(t, builder, app.files, dockerfile, bl)
			viaCommit, clog := buildWith(t, direct, app.files, dockerfile, bl)
			if !strings.Contains(blog, "Step 1/") || strings.Contains(clog, "Step 1/") || !strings.Contains(clog, "without the builder") {
				t.Fatalf("logs: builder\n%s\nshortcut\n%s", blog, clog)
			}
			ctx := context.Background()
			want, err := cli.ImageInspect(ctx, viaBuilder.Ref)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cli.ImageInspect(ctx, viaCommit.Ref)
			if err != nil {
				t.Fatal(err)
			}
			w, g := want.Config, got.Config
			sorted := func(x []string) []string { x = append([]string(nil), x...); sort.Strings(x); return x }
			if !reflect.DeepEqual(g.Cmd, w.Cmd) || !reflect.DeepEqual(g.Entrypoint, w.Entrypoint) || g.WorkingDir != w.WorkingDir ||
				!reflect.DeepEqual(sorted(g.Env), sorted(w.Env)) || !reflect.DeepEqual(g.ExposedPorts, w.ExposedPorts) ||
				!reflect.DeepEqual(g.Labels, w.Labels) || g.User != w.User {
				t.Errorf("image config without the builder:\n%+v\nwith it:\n%+v", g, w)
			}
			// The same files, modes and owners.
			if gf, wf := imageFiles(t, cli, viaCommit.Ref), imageFiles(t, cli, viaBuilder.Ref); !reflect.DeepEqual(gf, wf) {
				t.Errorf("files without the builder:\n%s\nwith it:\n%s", strings.Join(gf, "\n"), strings.Join(wf, "\n"))
			}
			// The same answers.
			a := run(t, direct, viaBuilder, map[string]string{deployer.LabelProject: uniq("prj")})
			b := run(t, direct, viaCommit, map[string]string{deployer.LabelProject: uniq("prj")})
			for _, p := range app.paths {
				if x, y := get(t, a.Addr, p), get(t, b.Addr, p); x != y {
					t.Errorf("GET %s: %q without the builder, %q with it", p, y, x)
				}
			}
		})
	}
}

// imageFiles lists the files of ref's image below its working directory
// (name, mode, owner, size), the generated Dockerfile aside.
func imageFiles(t *testing.T, cli *client.Client, ref string) []string {
	t.Helper()
	ctx := context.Background()
	ins, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimPrefix(ins.Config.WorkingDir, "/") + "/"
	c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: ref}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
	rc, err := cli.ContainerExport(ctx, c.ID, client.ContainerExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var files []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if !strings.HasPrefix(name, dir) || name == dir || name == dir+docker.DockerfileName {
			continue
		}
		files = append(files, fmt.Sprintf("%s %v %d:%d %d", name, h.FileInfo().Mode(), h.Uid, h.Gid, h.Size))
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no files in %s of %s", dir, ref)
	}
	return files
}
