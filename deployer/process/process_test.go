package process_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/process"
	"github.com/mosaic-platform/mosaic/errs"
)

// tarOf makes a tar of files (name → content; a name ending in "@" is a
// symlink to the content).
func tarOf(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, content := range files {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "@") {
			h = &tar.Header{Name: strings.TrimSuffix(name, "@"), Linkname: content, Typeflag: tar.TypeSymlink}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(content))
		}
	}
	tw.Close()
	return &b
}

func newRuntime(t *testing.T, dir string) *process.Runtime {
	t.Helper()
	r, err := process.New(process.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		insts, _ := r.List(context.Background(), nil)
		for _, i := range insts {
			r.Remove(context.Background(), i.ID)
		}
		r.Close()
	})
	return r
}

func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitListen waits until addr accepts HTTP.
func waitListen(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered", addr)
}

const nodeApp = `const http = require('http');
http.createServer((req, res) => res.end('node says hi on ' + process.env.PORT)).listen(process.env.PORT, '127.0.0.1');
console.log('listening on ' + process.env.PORT);
`

// TestProcessDeployRunStopGroup: a Node app is built (no build step),
// runs on a free port with PORT set and the memory limit in force, and Stop
// kills its whole process group, a background child included.
func TestProcessDeployRunStopGroup(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	ctx := context.Background()
	r := newRuntime(t, t.TempDir())
	plan := deployer.Plan{Stack: deployer.StackNode, Start: "sleep 600 & node server.js"}
	var logs bytes.Buffer
	art, err := r.Build(ctx, deployer.BuildSpec{Tag: "t/node:1", Plan: plan, Source: tarOf(t, map[string]string{"server.js": nodeApp}), Logs: &logs})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := r.Run(ctx, deployer.RunSpec{Name: "node-1", Artifact: art.Ref, Plan: plan, MemoryBytes: 512 << 20,
		Labels: map[string]string{deployer.LabelProject: "p1"}})
	if err != nil {
		t.Fatal(err)
	}
	waitListen(t, inst.Addr)
	_, port, _ := strings.Cut(inst.Addr, ":")
	if code, body := get(t, inst.Addr, "/"); code != 200 || body != "node says hi on "+port {
		t.Fatalf("%d %q", code, body)
	}
	pid := r.PID("node-1")
	members := group(pid)
	if len(members) < 2 {
		t.Fatalf("process group %d has %v, want sh, sleep and node", pid, members)
	}
	// Limits: a cgroup with memory.max, or RLIMIT_AS.
	if inst.MemoryBytes == 0 {
		t.Fatal("no memory limit reported")
	}
	lim, _ := os.ReadFile("/proc/" + strconv.Itoa(members[len(members)-1]) + "/limits")
	cg, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if !strings.Contains(string(cg), "mosaic/node-1") && !strings.Contains(string(lim), strconv.FormatInt(inst.MemoryBytes, 10)) {
		t.Errorf("memory limit %d in neither the cgroup (%s) nor the rlimits:\n%s", inst.MemoryBytes, cg, lim)
	}
	if l, _ := r.List(ctx, map[string]string{deployer.LabelProject: "p1"}); len(l) != 1 || l[0].Name != "node-1" {
		t.Errorf("list by label: %+v", l)
	}
	if l, _ := r.List(ctx, map[string]string{deployer.LabelProject: "p2"}); len(l) != 0 {
		t.Errorf("list by another label: %+v", l)
	}

	if err := r.Stop(ctx, "node-1", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, p := range members {
		if processAlive(p) {
			t.Errorf("process %d of the group survived Stop", p)
		}
	}
	if i, _ := r.Inspect(ctx, "node-1"); i.State != deployer.StateStopped || i.Addr != "" {
		t.Errorf("after stop: %+v", i)
	}
	// Start again: a new process answers.
	inst, err = r.Start(ctx, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	waitListen(t, inst.Addr)
	var out bytes.Buffer
	if err := r.Logs(ctx, "node-1", false, &out); err != nil || strings.Count(out.String(), "listening on") != 2 {
		t.Errorf("logs %q %v", out.String(), err)
	}
	if err := r.Remove(ctx, "node-1"); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveArtifact(ctx, art.Ref); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(art.Ref); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("artifact left: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(r.Dir(), "instances")); len(ents) != 0 {
		t.Errorf("instance files left: %v", ents)
	}
	if _, err := r.Inspect(ctx, "node-1"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("inspect after remove: %v", err)
	}
}

// group lists the processes whose process group is pgid.
func group(pgid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	return !strings.HasPrefix(strings.TrimSpace(s[strings.LastIndexByte(s, ')')+1:]), "Z")
}

// TestProcessDeployBuildFailure: a Go compile error fails Build, the
// compiler's message is in the build log, and nothing is left behind.
func TestProcessDeployBuildFailure(t *testing.T) {
	ctx := context.Background()
	r := newRuntime(t, t.TempDir())
	plan := deployer.Plan{Stack: deployer.StackGo, Build: []string{"CGO_ENABLED=0 go build -o .mosaic/app ."}, Start: "./.mosaic/app"}
	var logs bytes.Buffer
	_, err := r.Build(ctx, deployer.BuildSpec{Tag: "t/go:bad", Plan: plan, Logs: &logs,
		Source: tarOf(t, map[string]string{"go.mod": "module x\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() { undefinedThing() }\n"})})
	if err == nil {
		t.Fatal("a broken build succeeded")
	}
	if !strings.Contains(logs.String(), "undefined: undefinedThing") {
		t.Errorf("build log lacks the compiler error:\n%s", logs.String())
	}
	if ents, _ := os.ReadDir(filepath.Join(r.Dir(), "builds")); len(ents) != 0 {
		t.Errorf("build directory left: %v", ents)
	}
}

// TestProcessDeployStaticConfined: a static site is served in-process from
// its tree; a symlink out of the tree is not followed, and an archive entry
// outside the root is refused.
func TestProcessDeployStaticConfined(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := newRuntime(t, dir)
	secret := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(secret, []byte("platform secret"), 0o600)
	plan := deployer.Plan{Stack: deployer.StackStatic, Start: deployer.StaticStart}
	art, err := r.Build(ctx, deployer.BuildSpec{Tag: "t/static", Plan: plan,
		Source: tarOf(t, map[string]string{"index.html": "<h1>static hi</h1>", "css/a.css": "h1{}", "leak@": secret, "dir@": "/etc"})})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := r.Run(ctx, deployer.RunSpec{Name: "static-1", Artifact: art.Ref, Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, inst.Addr, "/"); code != 200 || !strings.Contains(body, "static hi") {
		t.Errorf("/: %d %q", code, body)
	}
	if code, _ := get(t, inst.Addr, "/css/a.css"); code != 200 {
		t.Errorf("/css/a.css: %d", code)
	}
	for _, p := range []string{"/leak", "/dir/passwd", "/../../etc/passwd"} {
		if code, body := get(t, inst.Addr, p); code == 200 || strings.Contains(body, "platform secret") || strings.Contains(body, "root:") {
			t.Errorf("%s escaped the tree: %d %q", p, code, body)
		}
	}
	// Adopted by a new runtime on the same directory, still served.
	r.Close()
	r2 := newRuntime(t, dir)
	i2, err := r2.Inspect(ctx, "static-1")
	if err != nil || i2.State != deployer.StateRunning {
		t.Fatalf("after reopen: %+v %v", i2, err)
	}
	if code, body := get(t, i2.Addr, "/"); code != 200 || !strings.Contains(body, "static hi") {
		t.Errorf("reopened /: %d %q", code, body)
	}

	for name, files := range map[string]map[string]string{
		"dot-dot":     {"../evil.txt": "x"},
		"via symlink": {"out@": t.TempDir(), "out/evil.txt": "x"},
	} {
		_, err := r2.Build(ctx, deployer.BuildSpec{Tag: "t/evil", Plan: plan, Source: tarOf(t, files)})
		if !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

// TestProcessDeployAdopt: a new Runtime on the same directory adopts a
// running child process (same address), and can stop it.
func TestProcessDeployAdopt(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	r := newRuntime(t, dir)
	plan := deployer.Plan{Stack: deployer.StackNode, Start: "node server.js"}
	art, err := r.Build(ctx, deployer.BuildSpec{Tag: "t/node", Plan: plan, Source: tarOf(t, map[string]string{"server.js": nodeApp})})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := r.Run(ctx, deployer.RunSpec{Name: "adopt-1", Artifact: art.Ref, Plan: plan, Labels: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	waitListen(t, inst.Addr)
	r2, err := process.New(process.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := r2.List(ctx, map[string]string{"k": "v"})
	if len(l) != 1 || l[0].State != deployer.StateRunning || l[0].Addr != inst.Addr {
		t.Fatalf("adopted %+v, want running at %s", l, inst.Addr)
	}
	pid := r.PID("adopt-1")
	if err := r2.Remove(ctx, "adopt-1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if processAlive(pid) {
		t.Error("the adopted process survived Remove")
	}
}

// TestProcessDeployLogRing: an app's kept output stays under MaxLogBytes
// and keeps the newest lines.
func TestProcessDeployLogRing(t *testing.T) {
	ctx := context.Background()
	r, err := process.New(process.Config{Dir: t.TempDir(), MaxLogBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { r.Remove(ctx, "chatty"); r.Close() }()
	plan := deployer.Plan{Stack: deployer.StackNode, Start: `i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; echo done; sleep 600`}
	art, err := r.Build(ctx, deployer.BuildSpec{Tag: "t/chatty", Plan: plan, Source: tarOf(t, map[string]string{"a": "b"})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(ctx, deployer.RunSpec{Name: "chatty", Artifact: art.Ref, Plan: plan}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for i := 0; i < 100; i++ {
		out.Reset()
		r.Logs(ctx, "chatty", false, &out)
		if strings.Contains(out.String(), "done") && out.Len() <= 8<<10 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "line 2999\ndone") || out.Len() > 8<<10 || strings.Contains(out.String(), "line 1\n") {
		t.Errorf("kept %d bytes; tail %q", out.Len(), out.String()[max(0, out.Len()-40):])
	}
}
