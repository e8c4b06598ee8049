package deployer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing/fstest"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic/errs"
)

// Status is a deployment's status, or (in AppStatus) the app's.
type Status string

// Deployment statuses; see the package documentation.
const (
	StatusPending    Status = "pending"
	StatusBuilding   Status = "building"
	StatusRunning    Status = "running"
	StatusFailed     Status = "failed"
	StatusStopped    Status = "stopped"
	StatusInactive   Status = "inactive"
	StatusSuperseded Status = "superseded"
	// StatusCrashed is an app's status (never a deployment's) when its
	// live instance exited by itself.
	StatusCrashed Status = "crashed"
	// StatusNone is an app's status when it was never deployed.
	StatusNone Status = "none"
)

// Finished reports whether s is a final status of a deployment's build.
func (s Status) Finished() bool {
	return s != StatusPending && s != StatusBuilding
}

// Trigger says what started a deployment.
type Trigger string

// Triggers.
const (
	TriggerManual   Trigger = "manual"    // POST /{slug}/deploy
	TriggerGitPush  Trigger = "git_push"  // a git client pushed to the default branch (auto-deploy)
	TriggerFilePush Trigger = "file_push" // POST /{slug}/git/files with "deploy": true
)

// Deployment is one row of a project's deployment history.
type Deployment struct {
	ID            string     `json:"id"`
	ProjectID     string     `json:"project_id"`
	Trigger       Trigger    `json:"trigger"`
	Branch        string     `json:"branch"`
	CommitSHA     string     `json:"commit_sha"`
	CommitMessage string     `json:"commit_message"`
	Stack         Stack      `json:"stack,omitempty"`
	Status        Status     `json:"status"`
	Error         string     `json:"error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`  // the build started
	FinishedAt    *time.Time `json:"finished_at,omitempty"` // running or failed
	// DurationMS is FinishedAt − CreatedAt in milliseconds (0 while unfinished).
	DurationMS int64 `json:"duration_ms"`
	// BuildLog is the build's output, set when the deployment finishes
	// (its tail, at most Config.MaxBuildLog bytes). Not in JSON.
	BuildLog string `json:"-"`
}

// Store keeps the deployment history. The platform implements it on its
// control database.
type Store interface {
	// SaveDeployment inserts or updates d (by ID), BuildLog included when set.
	SaveDeployment(ctx context.Context, d Deployment) error
	// Deployments returns a project's deployments, newest first, at most
	// limit of them, without their build logs.
	Deployments(ctx context.Context, projectID string, limit int) ([]Deployment, error)
	// BuildLog returns a deployment's stored build log.
	BuildLog(ctx context.Context, projectID, deploymentID string) (string, error)
}

// Source gives the tree of a commit as a tar (gitpush.Local is one).
type Source interface {
	Archive(ctx context.Context, project, ref string, w io.Writer) error
}

// Config configures a Manager. Runtime, Store and Source are required.
type Config struct {
	// Instance names this platform among others that share the runtime (a
	// Docker daemon): every instance is labelled with it (LabelPlatform),
	// and Rehydrate adopts or removes only instances with the same label.
	// Empty: every managed instance is this platform's.
	Instance string
	Runtime  Runtime
	Store    Store
	Source   Source
	// Images are the base images of generated Dockerfiles (default DefaultImages()).
	Images Images
	// HealthTimeout bounds how long a new instance may take to listen and
	// answer HTTP (default 60 s, as Heroku's boot timeout).
	HealthTimeout time.Duration
	// StopTimeout is the grace between SIGTERM and SIGKILL (default 10 s).
	StopTimeout time.Duration
	// DrainTimeout bounds how long a superseded version keeps running
	// after a swap, for the requests it was serving to finish (default
	// 30 s; long-lived streams and websockets are cut after it).
	DrainTimeout time.Duration
	// WorkDir holds the source archives while they build (default os.TempDir()).
	WorkDir string
	// MaxBuildLog bounds the kept build output per deployment (default 1 MiB; the tail is kept).
	MaxBuildLog int
	// Logger receives the lifecycle (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Request asks for a deployment.
type Request struct {
	ProjectID, Slug string
	// Branch is the branch to deploy (default "main"); Commit, when set,
	// pins the commit (it must be on any branch of the repository).
	Branch, Commit string
	// Message is the commit message, for the history (optional).
	Message string
	Trigger Trigger
	// Env is extra environment for the app.
	Env map[string]string
	// Limits from the project's plan.
	MemoryBytes, NanoCPUs int64
}

// Manager runs deployments. Build it with New; its methods are safe for
// concurrent use.
type Manager struct {
	cfg       Config
	rt        Runtime
	log       *slog.Logger
	transport *http.Transport
	buffers   *bufferPool
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu       sync.RWMutex
	apps     map[string]*app // by project id
	bySlug   map[string]*app
	inflight map[string]bool // deployments being recorded by Deploy
}

type app struct {
	projectID, slug string
	op              sync.Mutex // serializes swaps and lifecycle operations
	// guarded by Manager.mu:
	current    *live
	active     *job
	queued     *job
	latest     *Deployment
	logs       map[string]*logBuf // build logs of recent deployments
	logOrder   []string
	destroyed  bool
	workerDone chan struct{}
	// gone is closed when a destroyed app's teardown has ended: its
	// worker stopped, its instances and artifacts removed. prev is the
	// destroyed app of the same project that this one replaced while it
	// was being torn down: this app's worker waits for prev.gone before it
	// builds, so the teardown's sweep of the project's instances never
	// meets one of this app's.
	gone chan struct{}
	prev *app
	// images is held while a build of the app runs and while one of its
	// artifacts is removed: removing an image prunes its unused parents,
	// which a build running at the same time may have just taken from
	// the layer cache.
	images sync.Mutex
	// cleanup counts the removals of superseded instances in progress
	// (they run after the swap, while the next deployment may start).
	cleanup sync.WaitGroup
}

type live struct {
	inst    Instance
	dep     Deployment
	stopped bool
	proxy   *httputil.ReverseProxy
	// inflight counts the requests being proxied to inst. It is raised
	// under Manager.mu (read), so once a swap has replaced the live
	// version (under Manager.mu), it only goes down: drain waits for 0.
	inflight atomic.Int64
}

type job struct {
	dep    Deployment
	req    Request
	ctx    context.Context
	cancel context.CancelFunc
}

// New checks cfg and returns a Manager. It does no I/O; call Rehydrate to
// adopt the instances the runtime already runs.
func New(cfg Config) (*Manager, error) {
	if cfg.Runtime == nil || cfg.Store == nil || cfg.Source == nil {
		return nil, errs.New(errs.Invalid, "invalid_config", "deployer: Config.Runtime, Store and Source are required")
	}
	if cfg.Images == (Images{}) {
		cfg.Images = DefaultImages()
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.HealthTimeout <= 0 {
		cfg.HealthTimeout = 60 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = os.TempDir()
	}
	if cfg.MaxBuildLog <= 0 {
		cfg.MaxBuildLog = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, rt: cfg.Runtime, log: cfg.Logger, ctx: ctx, cancel: cancel,
		buffers: &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}},
		apps:    map[string]*app{}, bySlug: map[string]*app{}, inflight: map[string]bool{},
		transport: &http.Transport{
			Proxy:               nil, // never an environment proxy: the app is on loopback
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}}
	return m, nil
}

// Runtime returns the runtime in use.
func (m *Manager) Runtime() Runtime { return m.rt }

// Close stops the deployments in progress (they end as failed) and waits
// for their workers, or until ctx is done. Running instances are left
// running: a new Manager adopts them with Rehydrate.
func (m *Manager) Close(ctx context.Context) error {
	m.cancel()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	m.transport.CloseIdleConnections()
	return nil
}

func (m *Manager) now() time.Time { return m.cfg.Now().UTC() }

// save writes d, even when the caller's context is cancelled.
func (m *Manager) save(d Deployment) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), 10*time.Second)
	defer cancel()
	if err := m.cfg.Store.SaveDeployment(ctx, d); err != nil {
		m.log.Error("deployer: could not save a deployment", "deployment", d.ID, "status", d.Status, "err", err)
	}
}

func (m *Manager) finish(d *Deployment, st Status, msg string) {
	t := m.now()
	d.Status, d.Error, d.FinishedAt = st, msg, &t
	d.DurationMS = t.Sub(d.CreatedAt).Milliseconds()
}

// Deploy records a pending deployment and starts it in the background (or
// queues it behind the project's running one, superseding a queued one).
func (m *Manager) Deploy(ctx context.Context, req Request) (Deployment, error) {
	if req.ProjectID == "" || req.Slug == "" {
		return Deployment{}, errs.New(errs.Invalid, "invalid_request", "deployer: a deployment needs a project id and slug")
	}
	if req.Branch == "" {
		req.Branch = "main"
	}
	if req.Trigger == "" {
		req.Trigger = TriggerManual
	}
	if m.ctx.Err() != nil {
		return Deployment{}, errs.New(errs.Unavailable, "shutting_down", "the platform is shutting down; deploy again in a moment")
	}
	d := Deployment{ID: uuid.NewString(), ProjectID: req.ProjectID, Trigger: req.Trigger, Branch: req.Branch,
		CommitSHA: req.Commit, CommitMessage: req.Message, Status: StatusPending, CreatedAt: m.now()}
	m.mu.Lock()
	m.inflight[d.ID] = true // settle must not fail it before it is queued
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.inflight, d.ID)
		m.mu.Unlock()
	}()
	if err := m.cfg.Store.SaveDeployment(ctx, d); err != nil {
		return Deployment{}, err
	}
	jctx, cancel := context.WithCancel(m.ctx)
	j := &job{dep: d, req: req, ctx: jctx, cancel: cancel}
	var superseded *job
	m.mu.Lock()
	a := m.apps[req.ProjectID]
	if a == nil || a.destroyed {
		// A destroy in progress ends first (see app.prev); this
		// deployment starts the project afresh.
		a = &app{projectID: req.ProjectID, slug: req.Slug, logs: map[string]*logBuf{}, gone: make(chan struct{}), prev: a}
		m.apps[req.ProjectID] = a
		m.bySlug[req.Slug] = a
	}
	dc := d
	a.latest = &dc
	a.addLog(d.ID, newLogBuf(m.cfg.MaxBuildLog))
	if a.active == nil {
		a.active = j
		a.workerDone = make(chan struct{})
		m.wg.Add(1)
		go m.work(a, a.workerDone)
	} else {
		superseded, a.queued = a.queued, j
	}
	m.mu.Unlock()
	if superseded != nil {
		superseded.cancel()
		m.finish(&superseded.dep, StatusSuperseded, "superseded by deployment "+d.ID+" before it started")
		m.endLog(a, superseded.dep.ID, "superseded by deployment "+d.ID+"\n")
		m.save(superseded.dep)
	}
	m.log.Info("deployer: deployment queued", "slug", req.Slug, "deployment", d.ID, "trigger", d.Trigger)
	return d, nil
}

func (a *app) addLog(id string, b *logBuf) {
	a.logs[id] = b
	a.logOrder = append(a.logOrder, id)
	for len(a.logOrder) > 5 {
		delete(a.logs, a.logOrder[0])
		a.logOrder = a.logOrder[1:]
	}
}

func (m *Manager) buildLog(a *app, id string) *logBuf {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return a.logs[id]
}

func (m *Manager) endLog(a *app, id, line string) {
	if b := m.buildLog(a, id); b != nil {
		if line != "" {
			b.Write([]byte(line))
		}
		b.close()
	}
}

func (m *Manager) work(a *app, done chan struct{}) {
	defer m.wg.Done()
	defer close(done)
	if prev := a.prev; prev != nil {
		select {
		case <-prev.gone:
		case <-m.ctx.Done():
		}
		m.mu.Lock()
		a.prev = nil
		m.mu.Unlock()
	}
	for {
		m.mu.RLock()
		j := a.active
		m.mu.RUnlock()
		m.run(a, j)
		j.cancel()
		m.mu.Lock()
		a.active, a.queued = a.queued, nil
		next := a.active
		m.mu.Unlock()
		if next == nil {
			return
		}
	}
}

// run performs one deployment.
func (m *Manager) run(a *app, j *job) {
	d := &j.dep
	logs := m.buildLog(a, d.ID)
	if logs == nil {
		logs = newLogBuf(m.cfg.MaxBuildLog)
	}
	logf := func(format string, args ...any) { fmt.Fprintf(logs, format+"\n", args...) }
	fail := func(msg string) {
		logf("deployment failed: %s", msg)
		m.finish(d, StatusFailed, msg)
		logs.close()
		d.BuildLog = logs.String()
		// Saved before it is shown: whoever sees the status in memory
		// (Status) then finds the same in the history (History).
		m.save(*d)
		m.setLatest(a, *d)
		m.log.Info("deployer: deployment failed", "slug", a.slug, "deployment", d.ID, "err", msg)
	}
	if j.ctx.Err() != nil {
		fail("cancelled before it started")
		return
	}
	t := m.now()
	d.Status, d.StartedAt = StatusBuilding, &t
	m.save(*d)
	m.setLatest(a, *d)
	logf("deployment %s of %s (%s, %s)", d.ID, a.slug, d.Trigger, d.Branch)

	// 1. The source tree.
	src, err := os.CreateTemp(m.cfg.WorkDir, "mosaic-src-*.tar")
	if err != nil {
		fail("cannot create a temporary file for the source: " + err.Error())
		return
	}
	defer func() { src.Close(); os.Remove(src.Name()) }()
	ref := d.Branch
	if d.CommitSHA != "" {
		ref = d.CommitSHA
	}
	if err := m.cfg.Source.Archive(j.ctx, a.slug, ref, src); err != nil {
		if j.ctx.Err() != nil {
			fail("cancelled while reading the source")
		} else {
			fail("cannot read the source at " + ref + ": " + errs.As(err).Detail)
		}
		return
	}
	tree, commit, err := scanTar(src)
	if err != nil {
		fail("cannot read the source archive: " + err.Error())
		return
	}
	if d.CommitSHA == "" && commit != "" {
		d.CommitSHA = commit
	}
	logf("commit %s (queued %s, archived in %s)", d.CommitSHA, t.Sub(d.CreatedAt).Round(time.Millisecond), m.now().Sub(t).Round(time.Millisecond))

	// 2. What to build.
	plan, err := Detect(tree)
	if err != nil {
		fail(errs.As(err).Detail)
		return
	}
	plan.Dockerfile = Dockerfile(plan, m.cfg.Images)
	d.Stack = plan.Stack
	m.setLatest(a, *d)
	m.save(*d)
	logf("detected %s (from %s); start: %s", plan.Stack, strings.Join(plan.Files, ", "), plan.Start)

	// 3. Build.
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		fail("cannot rewind the source archive: " + err.Error())
		return
	}
	short := strings.SplitN(d.ID, "-", 2)[0]
	// What Build makes is labelled with the project, the same at every
	// build of it (cacheable); the instance also with the deployment.
	buildLabels := map[string]string{LabelManaged: "true", LabelProject: a.projectID, LabelSlug: a.slug}
	if m.cfg.Instance != "" {
		buildLabels[LabelPlatform] = m.cfg.Instance
	}
	labels := map[string]string{LabelDeployment: d.ID}
	for k, v := range buildLabels {
		labels[k] = v
	}
	logf("building with the %s runtime", RuntimeFor(m.rt, plan).Name())
	buildStart := time.Now()
	a.images.Lock()
	art, err := m.rt.Build(j.ctx, BuildSpec{Tag: "mosaic/" + a.slug + ":" + short, Plan: plan, Source: src, Labels: buildLabels, Logs: logs})
	a.images.Unlock()
	if err != nil {
		if j.ctx.Err() != nil {
			fail("cancelled during the build")
		} else {
			fail("build failed: " + errs.As(err).Detail)
		}
		return
	}

	logf("built in %s", time.Since(buildStart).Round(time.Millisecond))

	// 4. Run and health-check.
	runStart := time.Now()
	inst, err := m.rt.Run(j.ctx, RunSpec{Name: "mosaic-" + a.slug + "-" + short, Artifact: art.Ref, Plan: plan, Env: j.req.Env,
		Port: DefaultPort, MemoryBytes: j.req.MemoryBytes, NanoCPUs: j.req.NanoCPUs, Labels: labels})
	if err != nil {
		a.images.Lock()
		m.removeArtifact(art.Ref)
		a.images.Unlock()
		fail("cannot start the app: " + errs.As(err).Detail)
		return
	}
	logf("started instance %s in %s; waiting up to %s for it to listen on $PORT and answer HTTP",
		inst.Name, time.Since(runStart).Round(time.Millisecond), m.cfg.HealthTimeout)
	healthStart := time.Now()
	inst, err = m.health(j.ctx, inst)
	if err != nil {
		m.appendRuntimeLog(logs, inst.ID)
		m.removeAppInstance(a, inst)
		fail(err.Error())
		return
	}
	logf("healthy at %s (after %s)", time.Now().UTC().Format(time.RFC3339), time.Since(healthStart).Round(time.Millisecond))

	// 5. Swap.
	a.op.Lock()
	m.mu.Lock()
	if a.destroyed {
		m.mu.Unlock()
		a.op.Unlock()
		m.removeAppInstance(a, inst)
		fail("the deployment was destroyed while it built")
		return
	}
	old := a.current
	m.finish(d, StatusRunning, "")
	a.current = m.newLive(inst, *d, false)
	m.mu.Unlock()
	logs.close()
	d.BuildLog = logs.String()
	// The history first (old inactive, then new running), the status
	// next, the old instance's removal (up to StopTimeout) last: whoever
	// sees "running" sees the history that goes with it.
	if old != nil {
		m.retire(old.dep, StatusInactive)
	}
	m.save(*d)
	m.setLatest(a, *d)
	if old != nil {
		// The new version serves: the old one finishes the requests it
		// was serving (drain), then goes (container, then image), in the
		// background so that a queued deployment does not wait for it.
		// Destroy waits for it.
		a.cleanup.Add(1)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer a.cleanup.Done()
			m.drain(a, old)
			m.removeAppInstance(a, old.inst)
		}()
	}
	a.op.Unlock()
	m.log.Info("deployer: deployment running", "slug", a.slug, "deployment", d.ID, "stack", d.Stack, "duration_ms", d.DurationMS)
}

// retire records that a deployment no longer serves.
func (m *Manager) retire(d Deployment, st Status) {
	d.Status = st
	d.BuildLog = ""
	if ds, err := m.cfg.Store.Deployments(m.ctx, d.ProjectID, 50); err == nil {
		for _, x := range ds {
			if x.ID == d.ID {
				x.Status = st
				d = x
				break
			}
		}
	}
	m.save(d)
}

func (m *Manager) setLatest(a *app, d Deployment) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.latest == nil || a.latest.ID == d.ID || a.latest.CreatedAt.Before(d.CreatedAt) {
		d.BuildLog = ""
		a.latest = &d
	}
}

// drain waits until a superseded version has no request in flight, for at
// most Config.DrainTimeout, or until the app is destroyed or the Manager
// closes.
func (m *Manager) drain(a *app, l *live) {
	deadline := time.Now().Add(m.cfg.DrainTimeout)
	for l.inflight.Load() > 0 && time.Now().Before(deadline) {
		m.mu.RLock()
		gone := a.destroyed
		m.mu.RUnlock()
		if gone {
			return
		}
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	if n := l.inflight.Load(); n > 0 {
		m.log.Info("deployer: a superseded version still had requests in flight after the drain timeout; cutting them",
			"slug", a.slug, "deployment", l.dep.ID, "requests", n)
	}
}

// removeAppInstance removes an instance of a and its artifact, the
// artifact under a.images.
func (m *Manager) removeAppInstance(a *app, inst Instance) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), time.Minute)
	defer cancel()
	if err := m.rt.Remove(ctx, inst.ID); err != nil && !errors.Is(err, errs.ErrNotFound) {
		m.log.Warn("deployer: could not remove an instance", "instance", inst.ID, "err", err)
	}
	a.images.Lock()
	defer a.images.Unlock()
	m.removeArtifact(inst.Artifact)
}

func (m *Manager) removeInstance(inst Instance) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), time.Minute)
	defer cancel()
	if err := m.rt.Remove(ctx, inst.ID); err != nil && !errors.Is(err, errs.ErrNotFound) {
		m.log.Warn("deployer: could not remove an instance", "instance", inst.ID, "err", err)
	}
	m.removeArtifact(inst.Artifact)
}

func (m *Manager) removeArtifact(ref string) {
	if ref == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), time.Minute)
	defer cancel()
	if err := m.rt.RemoveArtifact(ctx, ref); err != nil && !errors.Is(err, errs.ErrNotFound) {
		m.log.Warn("deployer: could not remove an artifact", "artifact", ref, "err", err)
	}
}

// appendRuntimeLog copies the tail of an instance's output into a build log.
func (m *Manager) appendRuntimeLog(w io.Writer, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), 5*time.Second)
	defer cancel()
	var b bytes.Buffer
	m.rt.Logs(ctx, id, false, &tailWriter{buf: &b, max: 16 << 10})
	if b.Len() > 0 {
		fmt.Fprintf(w, "--- the app's output ---\n%s", b.String())
		if !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
			io.WriteString(w, "\n")
		}
		io.WriteString(w, "---\n")
	}
}

// health waits until the instance accepts TCP connections and answers an
// HTTP GET / (any status), within Config.HealthTimeout. It fails early
// when the instance stops running. It polls every 5 ms at first, backing
// off to every 100 ms.
func (m *Manager) health(ctx context.Context, inst Instance) (Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.HealthTimeout)
	defer cancel()
	hc := &http.Client{Transport: m.transport, Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	listened := false
	var lastErr error
	// Poll often at first (an app typically listens within tens of
	// milliseconds of its start), then back off to 100 ms.
	wait := 5 * time.Millisecond
	for {
		cur, err := m.rt.Inspect(ctx, inst.ID)
		if err == nil {
			inst = cur
		}
		if err == nil && cur.State != StateRunning {
			return inst, fmt.Errorf("the app exited before it listened on $PORT (state %s)", cur.State)
		}
		if inst.Addr != "" {
			if c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", inst.Addr); err == nil {
				c.Close()
				listened = true
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+inst.Addr+"/", nil)
				req.Header.Set("User-Agent", "mosaic-health-check")
				resp, err := hc.Do(req)
				if err == nil {
					io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
					resp.Body.Close()
					return inst, nil
				}
				lastErr = err
			}
		}
		select {
		case <-ctx.Done():
			if m.ctx.Err() != nil {
				return inst, errors.New("cancelled: the platform is shutting down")
			}
			if listened {
				return inst, fmt.Errorf("the app listened on $PORT but did not answer an HTTP GET / within %s (%v)", m.cfg.HealthTimeout, lastErr)
			}
			return inst, fmt.Errorf("the app did not listen on $PORT (%s) within %s", portOf(inst.Addr), m.cfg.HealthTimeout)
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return "?"
}

// newLive builds the routing entry of an instance.
func (m *Manager) newLive(inst Instance, d Deployment, stopped bool) *live {
	d.BuildLog = ""
	l := &live{inst: inst, dep: d, stopped: stopped}
	if inst.Addr != "" {
		target := &url.URL{Scheme: "http", Host: inst.Addr}
		l.proxy = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
				pr.Out.Host = pr.In.Host // the app sees the site's name
			},
			Transport:  m.transport,
			BufferPool: m.buffers,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				m.log.Warn("deployer: app did not answer", "instance", inst.ID, "err", err)
				page(w, http.StatusBadGateway, "This app is not answering", "The app's process did not answer this request. It may be restarting or it may have crashed; its owner can read its logs.")
			},
		}
	}
	return l
}

// bufferPool holds the proxy's copy buffers (httputil.BufferPool).
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(x []byte) { b.p.Put(&x) }

// page writes a small HTML error page.
func page(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", "30")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n<body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>%s</h1><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// ServeApp serves r from the running instance of the project with this
// slug and reports true; while the app is stopped or not running it
// answers 503 with a short page (true). It reports false, writing
// nothing, when the project has no live deployment.
func (m *Manager) ServeApp(w http.ResponseWriter, r *http.Request, slug string) bool {
	m.mu.RLock()
	a := m.bySlug[slug]
	var (
		l       *live
		stopped bool
		proxy   *httputil.ReverseProxy
	)
	if a != nil && a.current != nil {
		l = a.current
		stopped, proxy = l.stopped, l.proxy
		if !stopped && proxy != nil {
			l.inflight.Add(1) // under mu: see live.inflight
		}
	}
	m.mu.RUnlock()
	switch {
	case l == nil:
		return false
	case stopped:
		page(w, http.StatusServiceUnavailable, "This app is stopped", "Its owner stopped it. It answers again once it is started.")
	case proxy == nil:
		page(w, http.StatusServiceUnavailable, "This app is not running", "Its process is not running. Its owner can restart it and read its logs.")
	default:
		defer l.inflight.Add(-1)
		proxy.ServeHTTP(w, r)
	}
	return true
}

// AppStatus is a project's deployment state.
type AppStatus struct {
	// Status is the latest deployment's status while it is pending,
	// building or failed; once it went live, the app's: running, stopped
	// or crashed. "none" before the first deployment.
	Status Status `json:"status"`
	// Latest is the most recent deployment, Live the one serving (nil when none).
	Latest *Deployment `json:"deployment"`
	Live   *Deployment `json:"live"`
	// Instance is the live instance's runtime state and limits.
	Instance *InstanceInfo `json:"instance,omitempty"`
}

// InstanceInfo describes a live instance to its owner.
type InstanceInfo struct {
	Name        string    `json:"name"`
	State       State     `json:"state"`
	Runtime     string    `json:"runtime"`
	StartedAt   time.Time `json:"started_at"`
	MemoryBytes int64     `json:"memory_bytes"`
	NanoCPUs    int64     `json:"nano_cpus"`
}

func (m *Manager) app(projectID string) *app {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.apps[projectID]
}

// Status reports a project's deployment state.
func (m *Manager) Status(ctx context.Context, projectID string) (AppStatus, error) {
	var st AppStatus
	a := m.app(projectID)
	var l *live
	if a != nil {
		m.mu.RLock()
		if a.latest != nil {
			d := *a.latest
			st.Latest = &d
		}
		l = a.current
		m.mu.RUnlock()
	}
	if st.Latest == nil {
		ds, err := m.cfg.Store.Deployments(ctx, projectID, 1)
		if err != nil {
			return st, err
		}
		m.settle(ds)
		if len(ds) > 0 {
			st.Latest = &ds[0]
		}
	}
	if st.Latest == nil {
		st.Status = StatusNone
		return st, nil
	}
	st.Status = st.Latest.Status
	if l != nil {
		d := l.dep
		st.Live = &d
		inst, err := m.rt.Inspect(ctx, l.inst.ID)
		if err != nil {
			inst = l.inst
			inst.State = StateExited
		}
		st.Instance = &InstanceInfo{Name: inst.Name, State: inst.State, Runtime: RuntimeOf(ctx, m.rt, l.inst.ID).Name(), StartedAt: inst.StartedAt,
			MemoryBytes: inst.MemoryBytes, NanoCPUs: inst.NanoCPUs}
		// The live deployment's state, once the latest one is finished
		// (a new deployment is "running" only once its row says so).
		if st.Latest.Status.Finished() && (st.Latest.ID == l.dep.ID || st.Latest.Status == StatusRunning) {
			switch {
			case l.stopped:
				st.Status = StatusStopped
			case inst.State != StateRunning:
				st.Status = StatusCrashed
			default:
				st.Status = StatusRunning
			}
		}
	} else if st.Latest.Status == StatusRunning || st.Latest.Status == StatusStopped {
		// Live in the history but not here (destroyed): nothing runs.
		st.Status = StatusInactive
	}
	return st, nil
}

// History returns a project's deployments, newest first.
func (m *Manager) History(ctx context.Context, projectID string, limit int) ([]Deployment, error) {
	ds, err := m.cfg.Store.Deployments(ctx, projectID, limit)
	if err != nil {
		return nil, err
	}
	m.settle(ds)
	return ds, nil
}

// settle marks as failed the unfinished deployments in ds that this
// Manager is not running: a restart cut them off.
func (m *Manager) settle(ds []Deployment) {
	for i := range ds {
		d := &ds[i]
		if d.Status.Finished() || m.running(d.ProjectID, d.ID) {
			continue
		}
		m.finish(d, StatusFailed, "interrupted: the platform restarted during this deployment")
		m.save(*d)
	}
}

// running reports whether the deployment is this Manager's active or queued one.
func (m *Manager) running(projectID, id string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.inflight[id] {
		return true
	}
	for a := m.apps[projectID]; a != nil; a = a.prev {
		if a.active != nil && a.active.dep.ID == id || a.queued != nil && a.queued.dep.ID == id {
			return true
		}
	}
	return false
}

// LogSnapshot is the build log of a project's latest deployment and the
// output of its live instance.
type LogSnapshot struct {
	DeploymentID string `json:"deployment_id"`
	Status       Status `json:"status"`
	Build        string `json:"build"`
	Runtime      string `json:"runtime"`
}

// maxRuntimeSnapshot bounds the runtime part of a LogSnapshot (its tail).
const maxRuntimeSnapshot = 1 << 20

// Logs returns the build log of the project's latest deployment and the
// tail of its live instance's output.
func (m *Manager) Logs(ctx context.Context, projectID string) (LogSnapshot, error) {
	st, err := m.Status(ctx, projectID)
	if err != nil {
		return LogSnapshot{}, err
	}
	if st.Latest == nil {
		return LogSnapshot{}, errs.New(errs.NotFound, "no_deployment", "this project has no deployment yet")
	}
	snap := LogSnapshot{DeploymentID: st.Latest.ID, Status: st.Status}
	var b bytes.Buffer
	if err := m.writeBuildLog(ctx, projectID, st.Latest.ID, false, &b); err != nil {
		return snap, err
	}
	snap.Build = b.String()
	if l := m.live(projectID); l != nil {
		var rb bytes.Buffer
		if err := m.rt.Logs(ctx, l.inst.ID, false, &tailWriter{buf: &rb, max: maxRuntimeSnapshot}); err != nil && !errors.Is(err, errs.ErrNotFound) {
			return snap, err
		}
		snap.Runtime = rb.String()
	}
	return snap, nil
}

// FollowLogs writes the latest deployment's build log (following it while
// it builds), then the live instance's output, following it until ctx is
// done or the instance stops.
func (m *Manager) FollowLogs(ctx context.Context, projectID string, w io.Writer) error {
	st, err := m.Status(ctx, projectID)
	if err != nil {
		return err
	}
	if st.Latest == nil {
		return errs.New(errs.NotFound, "no_deployment", "this project has no deployment yet")
	}
	fmt.Fprintf(w, "==> build log of deployment %s\n", st.Latest.ID)
	flush(w)
	if err := m.writeBuildLog(ctx, projectID, st.Latest.ID, true, w); err != nil || ctx.Err() != nil {
		return err
	}
	l := m.live(projectID)
	if l == nil {
		fmt.Fprintf(w, "==> no live instance\n")
		return nil
	}
	fmt.Fprintf(w, "==> output of %s\n", l.inst.Name)
	flush(w)
	err = m.rt.Logs(ctx, l.inst.ID, true, w)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func flush(w io.Writer) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func (m *Manager) live(projectID string) *live {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if a := m.apps[projectID]; a != nil {
		return a.current
	}
	return nil
}

func (m *Manager) writeBuildLog(ctx context.Context, projectID, id string, follow bool, w io.Writer) error {
	var b *logBuf
	if a := m.app(projectID); a != nil {
		b = m.buildLog(a, id)
	}
	if b != nil {
		return b.copyTo(ctx, w, follow)
	}
	s, err := m.cfg.Store.BuildLog(ctx, projectID, id)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, s)
	return err
}

func noDeployment() error {
	return errs.New(errs.NotFound, "no_deployment", "this project has no live deployment; deploy first (POST /{slug}/deploy)")
}

// Stop stops the live instance; the site answers 503 until Start.
func (m *Manager) Stop(ctx context.Context, projectID string) error {
	a := m.app(projectID)
	if a == nil {
		return noDeployment()
	}
	a.op.Lock()
	defer a.op.Unlock()
	l := m.live(projectID)
	if l == nil {
		return noDeployment()
	}
	if err := m.rt.Stop(ctx, l.inst.ID, m.cfg.StopTimeout); err != nil {
		return err
	}
	inst, err := m.rt.Inspect(ctx, l.inst.ID)
	if err != nil {
		inst = l.inst
	}
	d := l.dep
	d.Status = StatusStopped
	m.mu.Lock()
	a.current = m.newLive(inst, d, true)
	m.mu.Unlock()
	m.setLatest(a, d)
	m.retire(d, StatusStopped)
	m.log.Info("deployer: app stopped", "slug", a.slug)
	return nil
}

// Start starts the stopped (or crashed) live instance and waits until it
// is healthy again.
func (m *Manager) Start(ctx context.Context, projectID string) error {
	return m.restart(ctx, projectID, false)
}

// Restart restarts the live instance and waits until it is healthy again.
func (m *Manager) Restart(ctx context.Context, projectID string) error {
	return m.restart(ctx, projectID, true)
}

func (m *Manager) restart(ctx context.Context, projectID string, restart bool) error {
	a := m.app(projectID)
	if a == nil {
		return noDeployment()
	}
	a.op.Lock()
	defer a.op.Unlock()
	l := m.live(projectID)
	if l == nil {
		return noDeployment()
	}
	var inst Instance
	var err error
	if restart {
		inst, err = m.rt.Restart(ctx, l.inst.ID)
	} else {
		inst, err = m.rt.Start(ctx, l.inst.ID)
	}
	if err != nil {
		return err
	}
	inst, herr := m.health(ctx, inst)
	d := l.dep
	d.Status = StatusRunning
	m.mu.Lock()
	a.current = m.newLive(inst, d, false)
	m.mu.Unlock()
	m.setLatest(a, d)
	m.retire(d, StatusRunning)
	if herr != nil {
		return errs.Wrap(errs.Conflict, herr, "app_unhealthy", "the app was started but is not healthy: %v", herr)
	}
	m.log.Info("deployer: app started", "slug", a.slug, "restart", restart)
	return nil
}

// Destroy removes the project's live instance and its artifact, cancels a
// deployment in progress and waits for it to end. Nothing of the project
// is left in the runtime. A project never deployed is NotFound.
//
// The teardown runs apart from the call: when ctx ends first, Destroy
// returns Unavailable and the teardown goes on. A deployment requested
// during a teardown starts the project afresh once the teardown has ended
// (it is pending until then); the teardown never touches it.
func (m *Manager) Destroy(ctx context.Context, projectID string) error {
	m.mu.Lock()
	a := m.apps[projectID]
	if a == nil {
		m.mu.Unlock()
		return noDeployment()
	}
	if !a.destroyed {
		a.destroyed = true
		if a.active != nil {
			a.active.cancel()
		}
		queued := a.queued
		a.queued = nil
		if m.bySlug[a.slug] == a {
			delete(m.bySlug, a.slug)
		}
		m.wg.Add(1)
		go m.teardown(a, queued)
	}
	gone := a.gone
	m.mu.Unlock()
	select {
	case <-gone:
		return nil
	case <-ctx.Done():
		return errs.Wrap(errs.Unavailable, ctx.Err(), "cancelled", "gave up waiting for the destroy to end; it goes on in the background")
	}
}

// teardown ends a destroyed app: its queued deployment is superseded, its
// worker stops (the active deployment was cancelled), then its instances
// and artifacts are removed, the superseded ones first. It runs apart from
// the Destroy call that started it, which only waits for it, and closes
// a.gone when done: a deployment requested meanwhile waits for that.
func (m *Manager) teardown(a *app, queued *job) {
	defer m.wg.Done()
	defer close(a.gone)
	if queued != nil {
		queued.cancel()
		m.finish(&queued.dep, StatusSuperseded, "the deployment was destroyed before it started")
		m.endLog(a, queued.dep.ID, "the deployment was destroyed before it started\n")
		m.save(queued.dep)
	}
	m.mu.RLock()
	done := a.workerDone
	m.mu.RUnlock()
	if done != nil {
		<-done // the worker never outlives m.ctx: Close cancels the jobs
	}
	a.cleanup.Wait() // superseded instances being removed
	a.op.Lock()
	defer a.op.Unlock()
	m.mu.Lock()
	l := a.current
	a.current = nil
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), 2*time.Minute)
	defer cancel()
	if l != nil {
		m.removeInstance(l.inst)
		m.retire(l.dep, StatusInactive)
	}
	// Leftovers of a crash mid-swap, if any. No newer app of the project
	// has an instance yet: a stays in m.apps until here, so a deployment
	// requested meanwhile made a new app whose worker waits for a.gone.
	if insts, err := m.rt.List(ctx, map[string]string{LabelManaged: "true", LabelProject: a.projectID}); err == nil {
		for _, i := range insts {
			m.removeInstance(i)
		}
	}
	m.mu.Lock()
	if m.apps[a.projectID] == a {
		delete(m.apps, a.projectID)
	}
	m.mu.Unlock()
	m.log.Info("deployer: deployment destroyed", "slug", a.slug)
}

// Rehydrate rebuilds the routing table from the runtime's instances (by
// their labels) after a restart: for each project, the newest instance
// whose deployment the Store knows becomes live (stopped if it is not
// running); older ones and orphans are removed. Deployments that were
// pending or building when the platform stopped are marked failed when
// their project's status or history is next read (see settle).
func (m *Manager) Rehydrate(ctx context.Context) error {
	match := map[string]string{LabelManaged: "true"}
	if m.cfg.Instance != "" {
		match[LabelPlatform] = m.cfg.Instance // never another platform's instances
	}
	insts, err := m.rt.List(ctx, match)
	if err != nil {
		return err
	}
	byProject := map[string][]Instance{}
	for _, i := range insts {
		byProject[i.Labels[LabelProject]] = append(byProject[i.Labels[LabelProject]], i)
	}
	for pid, list := range byProject {
		sort.Slice(list, func(i, j int) bool { return list[i].StartedAt.After(list[j].StartedAt) })
		ds, err := m.cfg.Store.Deployments(ctx, pid, 100)
		if err != nil {
			return err
		}
		var keep *Instance
		var dep Deployment
		for idx := range list {
			i := list[idx]
			if keep == nil && pid != "" {
				for _, d := range ds {
					if d.ID == i.Labels[LabelDeployment] {
						keep, dep = &list[idx], d
						break
					}
				}
				if keep != nil {
					continue
				}
			}
			m.log.Info("deployer: removing a stale instance", "instance", i.Name)
			m.removeInstance(i)
		}
		if keep == nil {
			continue
		}
		slug := keep.Labels[LabelSlug]
		stopped := keep.State == StateStopped && dep.Status == StatusStopped
		m.mu.Lock()
		a := &app{projectID: pid, slug: slug, logs: map[string]*logBuf{}, gone: make(chan struct{})}
		a.current = m.newLive(*keep, dep, stopped)
		m.apps[pid], m.bySlug[slug] = a, a
		m.mu.Unlock()
		m.log.Info("deployer: adopted a running instance", "slug", slug, "instance", keep.Name, "state", keep.State)
	}
	return nil
}

// scanTar reads a git archive: the root-level files (for Detect, up to
// 1 MiB each; deeper paths are listed without content) and the commit id
// that git archive stores in the pax global header. The tree is an
// fstest.MapFS: a plain map-backed fs.FS (the package does not import
// package testing).
func scanTar(f *os.File) (fs.FS, string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, "", err
	}
	tr := tar.NewReader(f)
	tree := fstest.MapFS{}
	commit := ""
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tree, commit, nil
		}
		if err != nil {
			return nil, "", err
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			if c := h.PAXRecords["comment"]; len(c) == 40 {
				commit = c
			}
			continue
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." || !fs.ValidPath(name) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			tree[name] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
		case tar.TypeReg:
			mf := &fstest.MapFile{Mode: 0o644}
			if !strings.Contains(name, "/") && h.Size <= maxManifest {
				b, err := io.ReadAll(io.LimitReader(tr, maxManifest))
				if err != nil {
					return nil, "", err
				}
				mf.Data = b
			}
			tree[name] = mf
		}
	}
}
