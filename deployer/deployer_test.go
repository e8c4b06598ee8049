package deployer_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/process"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
)

// memStore is an in-memory deployer.Store (the platform's is PostgreSQL).
type memStore struct {
	mu sync.Mutex
	ds map[string]deployer.Deployment
}

func (s *memStore) SaveDeployment(_ context.Context, d deployer.Deployment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.BuildLog == "" {
		d.BuildLog = s.ds[d.ID].BuildLog
	}
	s.ds[d.ID] = d
	return nil
}

func (s *memStore) Deployments(_ context.Context, pid string, limit int) ([]deployer.Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []deployer.Deployment
	for _, d := range s.ds {
		if d.ProjectID == pid {
			d.BuildLog = ""
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *memStore) BuildLog(_ context.Context, pid, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.ds[id]
	if !ok || d.ProjectID != pid {
		return "", errs.New(errs.NotFound, "deployment_not_found", "no such deployment")
	}
	return d.BuildLog, nil
}

type rig struct {
	m     *deployer.Manager
	rt    *process.Runtime
	git   *gitpush.Local
	store *memStore
}

func newRig(t *testing.T, rtDir string) *rig {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	g, err := gitpush.New(gitpush.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := process.New(process.Config{Dir: rtDir})
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{ds: map[string]deployer.Deployment{}}
	m, err := deployer.New(deployer.Config{Runtime: rt, Store: st, Source: g, HealthTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close(context.Background())
		insts, _ := rt.List(context.Background(), nil)
		for _, i := range insts {
			rt.Remove(context.Background(), i.ID)
		}
		rt.Close()
		g.Close(context.Background())
	})
	return &rig{m: m, rt: rt, git: g, store: st}
}

func (r *rig) put(t *testing.T, project string, files map[string]string) {
	t.Helper()
	ctx := context.Background()
	if err := r.git.Create(ctx, project); err != nil && !errors.Is(err, errs.ErrConflict) {
		t.Fatal(err)
	}
	for name, content := range files {
		if _, err := r.git.PutFile(ctx, project, gitpush.File{Path: name, Content: []byte(content)}); err != nil {
			t.Fatal(err)
		}
	}
}

func (r *rig) wait(t *testing.T, pid, id string) deployer.Deployment {
	t.Helper()
	for range 3000 {
		ds, _ := r.store.Deployments(context.Background(), pid, 10)
		for _, d := range ds {
			if d.ID == id && d.Status.Finished() {
				return d
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("deployment %s never finished", id)
	return deployer.Deployment{}
}

const upgradeApp = `const http = require('http');
const srv = http.createServer((req, res) => res.end('plain ' + req.headers['x-forwarded-host']));
srv.on('upgrade', (req, sock) => {
  sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
  sock.on('data', d => sock.write('echo:' + d));
});
srv.listen(process.env.PORT, '127.0.0.1', () => console.log('upgrade app up'));
`

// TestManagerDeployProxyUpgradeAndLogs: ServeApp proxies plain requests
// (with X-Forwarded headers) and protocol upgrades (the websocket path);
// FollowLogs streams the build log and then the app's output.
func TestManagerDeployProxyUpgradeAndLogs(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	r := newRig(t, t.TempDir())
	ctx := context.Background()
	r.put(t, "upg", map[string]string{"package.json": `{"main": "app.js"}`, "app.js": upgradeApp})
	d, err := r.m.Deploy(ctx, deployer.Request{ProjectID: "p-upg", Slug: "upg"})
	if err != nil {
		t.Fatal(err)
	}
	if d := r.wait(t, "p-upg", d.ID); d.Status != deployer.StatusRunning {
		log, _ := r.store.BuildLog(ctx, "p-upg", d.ID)
		t.Fatalf("%+v\n%s", d, log)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.m.ServeApp(w, req, strings.Split(req.Host, ".")[0]) {
			http.NotFound(w, req)
		}
	}))
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Host = "upg.example.test"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "plain upg.example.test" {
		t.Errorf("plain request: %q", b)
	}
	req.Host = "other.example.test"
	if resp, err := srv.Client().Do(req); err != nil || resp.StatusCode != 404 {
		t.Errorf("another slug: %v %v", resp, err)
	}

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: upg.example.test\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	status, _ := br.ReadString('\n')
	if !strings.Contains(status, "101") {
		t.Fatalf("upgrade answered %q", status)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	io.WriteString(c, "ping")
	got := make([]byte, len("echo:ping"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "echo:ping" {
		t.Errorf("through the upgraded connection: %q %v", got, err)
	}

	fctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() { r.m.FollowLogs(fctx, "p-upg", pw); pw.Close() }()
	sc := bufio.NewScanner(pr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), "upgrade app up") {
			break
		}
	}
	cancel()
	pr.Close()
	all := strings.Join(seen, "\n")
	if !strings.Contains(all, "==> build log") || !strings.Contains(all, "detected node") || !strings.Contains(all, "upgrade app up") {
		t.Errorf("followed logs:\n%s", all)
	}
}

// TestManagerDeployRehydrate: a new Manager on the same runtime adopts the
// instance of a known deployment and removes an orphan (an instance whose
// deployment the Store does not know).
func TestManagerDeployRehydrate(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir)
	ctx := context.Background()
	r.put(t, "site", map[string]string{"index.html": "rehydrated site"})
	d, err := r.m.Deploy(ctx, deployer.Request{ProjectID: "p-site", Slug: "site"})
	if err != nil {
		t.Fatal(err)
	}
	r.wait(t, "p-site", d.ID)
	// An orphan: labelled like ours, but its deployment is unknown.
	art, err := r.rt.Build(ctx, deployer.BuildSpec{Tag: "orphan", Plan: deployer.Plan{Stack: deployer.StackStatic, Start: deployer.StaticStart}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.Run(ctx, deployer.RunSpec{Name: "orphan", Artifact: art.Ref, Plan: deployer.Plan{Stack: deployer.StackStatic},
		Labels: map[string]string{deployer.LabelManaged: "true", deployer.LabelProject: "p-gone", deployer.LabelSlug: "gone", deployer.LabelDeployment: "x"}}); err != nil {
		t.Fatal(err)
	}
	r.rt.Close() // the platform "stops"; static sites are served again by the next runtime

	rt2, err := process.New(process.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	m2, err := deployer.New(deployer.Config{Runtime: rt2, Store: r.store, Source: r.git})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(ctx)
	if err := m2.Rehydrate(ctx); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if !m2.ServeApp(rec, httptest.NewRequest("GET", "/", nil), "site") || !strings.Contains(rec.Body.String(), "rehydrated site") {
		t.Errorf("after rehydrate: %d %q", rec.Code, rec.Body.String())
	}
	if m2.ServeApp(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), "gone") {
		t.Error("the orphan is routed")
	}
	if _, err := rt2.Inspect(ctx, "orphan"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("the orphan was not removed: %v", err)
	}
	st, err := m2.Status(ctx, "p-site")
	if err != nil || st.Status != deployer.StatusRunning || st.Live == nil || st.Live.ID != d.ID {
		t.Errorf("status %+v %v", st, err)
	}
}
