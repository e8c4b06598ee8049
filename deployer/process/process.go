// Package process is the local-process deployer.Runtime: it builds an app
// with the host's toolchains (go, node/npm, python3, cargo) in a work
// directory and runs it as a child process on a free 127.0.0.1 port. It is
// the embedded default where no Docker daemon is reachable.
//
// It does NOT isolate tenants from each other or from the platform: apps run
// as the platform's OS user, see the same file system and network, and can
// bind any port. Use it for development, tests and single-tenant setups; use
// the Docker runtime (package deployer/docker) for untrusted code.
//
// # Layout
//
// Everything lives under Config.Dir:
//
//	builds/<tag>-<random>/     one extracted, built source tree per Build (the artifact)
//	instances/<name>/state.json  what the runtime knows of an instance (labels, pid, port)
//	instances/<name>/app.log     the app's stdout and stderr, kept to Config.MaxLogBytes
//
// A Runtime opened on a Dir that a previous one used adopts the instances
// whose processes still run (their pid and start time are checked), so that
// the deployer can rebuild its state with List after a platform restart.
//
// # Processes
//
// An app is started with sh -c <Plan.Start> in its built tree, with PORT
// (and HOST=127.0.0.1) set, in its own process group (Stop signals the whole
// group: SIGTERM, then SIGKILL after the timeout). Its environment is the
// plan's and the RunSpec's, plus a few toolchain variables from the host
// (Config.PassEnv) — never the platform's own secrets.
//
// # Limits (best effort)
//
// When a cgroup v2 hierarchy is mounted at Config.CgroupRoot and writable,
// each instance gets its own cgroup with memory.max and cpu.max from the
// RunSpec, and the process starts inside it. Otherwise memory is bounded
// with RLIMIT_AS (ulimit -v) at MemoryBytes plus AddressSpaceHeadroom, since
// Go and V8 reserve hundreds of megabytes of address space at start; CPU is
// then not limited. Instance.MemoryBytes and NanoCPUs report what is in force.
//
// # Static sites
//
// A static site (Plan.Stack "static" without a Procfile) runs no process:
// the runtime serves the tree itself from a loopback listener with
// net/http's file server, confined to the tree with os.Root (symlinks cannot
// leave it). Its instance lives as long as the Runtime; a Runtime reopened
// on the same Dir serves it again.
package process

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/errs"
)

// AddressSpaceHeadroom is added to MemoryBytes for RLIMIT_AS: Go and V8
// reserve address space (not memory) at start, and fail under a tight limit.
const AddressSpaceHeadroom = 1 << 30

// DefaultPassEnv are the host variables builds and apps inherit: where the
// toolchains and their caches are. Nothing else of the platform's
// environment reaches an app.
var DefaultPassEnv = []string{
	"PATH", "HOME", "LANG", "TMPDIR",
	"GOROOT", "GOPATH", "GOCACHE", "GOMODCACHE", "GOPROXY", "GOSUMDB", "GOFLAGS", "GOTOOLCHAIN", "GONOSUMDB", "GOPRIVATE",
	"CARGO_HOME", "RUSTUP_HOME", "PYENV_ROOT", "PYENV_VERSION", "npm_config_cache",
}

// Config configures a Runtime. Dir is required.
type Config struct {
	// Dir holds builds, instance state and logs; it is created if needed.
	Dir string
	// MaxLogBytes bounds an instance's kept output (default 1 MiB): past
	// it, the older half is dropped.
	MaxLogBytes int64
	// BuildTimeout bounds one Build (default 10 minutes).
	BuildTimeout time.Duration
	// PassEnv names the host variables builds and apps inherit (default DefaultPassEnv).
	PassEnv []string
	// CgroupRoot is the cgroup v2 directory under which instances get their
	// cgroups (default /sys/fs/cgroup/mosaic); used only when writable.
	CgroupRoot string
	// Logger receives what the runtime does (default: discard).
	Logger *slog.Logger
}

// Runtime runs apps as local processes. Build it with New; it is safe for
// concurrent use.
type Runtime struct {
	dir, builds, instances string
	maxLog                 int64
	buildTimeout           time.Duration
	passEnv                []string
	cgroupRoot             string
	log                    *slog.Logger

	mu    sync.Mutex
	insts map[string]*inst
}

var _ deployer.Runtime = (*Runtime)(nil)

// state is what state.json keeps of an instance.
type state struct {
	Name        string            `json:"name"`
	Artifact    string            `json:"artifact"`
	Plan        deployer.Plan     `json:"plan"`
	Env         map[string]string `json:"env"`
	Labels      map[string]string `json:"labels"`
	MemoryBytes int64             `json:"memory_bytes"` // asked for
	NanoCPUs    int64             `json:"nano_cpus"`
	Running     bool              `json:"running"` // should be running (false after Stop)
	PID         int               `json:"pid"`
	PIDStart    string            `json:"pid_start"` // /proc/<pid>/stat start time, against pid reuse
	Port        int               `json:"port"`
	StartedAt   time.Time         `json:"started_at"`
}

type inst struct {
	mu      sync.Mutex
	st      state
	state   deployer.State
	memory  int64 // in force
	cpus    int64
	exited  chan struct{} // closed when the current process ends
	srv     *http.Server  // static sites
	cgroup  string
	logStop chan struct{}
}

// New opens a Runtime on cfg.Dir and adopts the instances a previous
// Runtime left running there.
func New(cfg Config) (*Runtime, error) {
	if cfg.Dir == "" {
		return nil, errs.New(errs.Invalid, "invalid_config", "process: Config.Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, errs.Internalf(err, "process: absolute path of %q", cfg.Dir)
	}
	if cfg.MaxLogBytes <= 0 {
		cfg.MaxLogBytes = 1 << 20
	}
	if cfg.BuildTimeout <= 0 {
		cfg.BuildTimeout = 10 * time.Minute
	}
	if cfg.PassEnv == nil {
		cfg.PassEnv = DefaultPassEnv
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/sys/fs/cgroup/mosaic"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runtime{dir: dir, builds: filepath.Join(dir, "builds"), instances: filepath.Join(dir, "instances"),
		maxLog: cfg.MaxLogBytes, buildTimeout: cfg.BuildTimeout, passEnv: cfg.PassEnv, cgroupRoot: cfg.CgroupRoot,
		log: cfg.Logger, insts: map[string]*inst{}}
	for _, d := range []string{r.builds, r.instances} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, errs.Internalf(err, "process: create %s", d)
		}
	}
	if err := r.adopt(); err != nil {
		return nil, err
	}
	return r, nil
}

// Name is "process".
func (r *Runtime) Name() string { return "process" }

// Dir returns the runtime's directory.
func (r *Runtime) Dir() string { return r.dir }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// safeName turns a tag or name into a file name.
func safeName(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	s = strings.Trim(b.String(), ".")
	if len(s) > 100 {
		s = s[:100]
	}
	if s == "" {
		s = "x"
	}
	return s
}

func (r *Runtime) env(extra ...map[string]string) []string {
	m := map[string]string{}
	for _, k := range r.passEnv {
		if v, ok := os.LookupEnv(k); ok {
			m[k] = v
		}
	}
	for _, e := range extra {
		for k, v := range e {
			m[k] = v
		}
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Build extracts b.Source into a new directory under Dir/builds and runs
// the plan's build commands there with sh -c, writing their output to b.Logs.
func (r *Runtime) Build(ctx context.Context, b deployer.BuildSpec) (deployer.Artifact, error) {
	ctx, cancel := context.WithTimeout(ctx, r.buildTimeout)
	defer cancel()
	dir := filepath.Join(r.builds, safeName(b.Tag)+"-"+randHex(4))
	logs := b.Logs
	if logs == nil {
		logs = io.Discard
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return deployer.Artifact{}, errs.Internalf(err, "process: create build directory")
	}
	fail := func(err error) (deployer.Artifact, error) {
		os.RemoveAll(dir)
		return deployer.Artifact{}, err
	}
	if b.Source != nil {
		n, err := Extract(dir, b.Source)
		if err != nil {
			fmt.Fprintf(logs, "extract source: %v\n", err)
			return fail(err)
		}
		fmt.Fprintf(logs, "source: %d files\n", n)
	}
	env := r.env(map[string]string{"HOME": os.Getenv("HOME")})
	for _, c := range b.Plan.Build {
		fmt.Fprintf(logs, "$ %s\n", c)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logs, logs
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(logs, "build stopped: %v\n", ctx.Err())
				return fail(errs.Wrap(errs.Unavailable, ctx.Err(), "build_timeout", "the build was stopped after %s or cancelled", r.buildTimeout))
			}
			fmt.Fprintf(logs, "build step failed: %v\n", err)
			return fail(errs.Wrap(errs.Invalid, err, "build_failed", "build step %q failed: %v", c, err))
		}
	}
	return deployer.Artifact{ID: dir, Ref: dir}, nil
}

// Extract writes the tar stream r into dir, which must exist, and returns
// the number of regular files. Writes go through os.Root, so no entry can
// land outside dir (absolute paths, "..", symlinks that point out); device
// files and the like are skipped.
func Extract(dir string, r io.Reader) (int, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, errs.Internalf(err, "process: open %s", dir)
	}
	defer root.Close()
	tr := tar.NewReader(r)
	files := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return files, errs.Wrap(errs.Invalid, err, "invalid_archive", "the source archive cannot be read: %v", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." || h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return files, errs.New(errs.Invalid, "invalid_archive", "the source archive has an entry outside its root: %q", h.Name)
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return files, errs.Wrap(errs.Invalid, err, "invalid_archive", "cannot create %q: %v", d, err)
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return files, errs.Wrap(errs.Invalid, err, "invalid_archive", "cannot create %q: %v", name, err)
			}
		case tar.TypeReg:
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				return files, errs.Wrap(errs.Invalid, err, "invalid_archive", "cannot write %q: %v", name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return files, errs.Wrap(errs.Invalid, err, "invalid_archive", "cannot write %q: %v", name, err)
			}
			files++
		case tar.TypeSymlink:
			// The link itself may point anywhere; os.Root refuses to follow
			// it out of dir, for later entries and for the static server.
			if err := root.Symlink(h.Linkname, name); err != nil {
				return files, errs.Wrap(errs.Invalid, err, "invalid_archive", "cannot create link %q: %v", name, err)
			}
		}
	}
}

// RemoveArtifact deletes a build directory.
func (r *Runtime) RemoveArtifact(ctx context.Context, ref string) error {
	rel, err := filepath.Rel(r.builds, ref)
	if err != nil || rel == "." || strings.Contains(rel, string(filepath.Separator)) || strings.HasPrefix(rel, "..") {
		return errs.New(errs.NotFound, "artifact_not_found", "no artifact %q in this runtime", ref)
	}
	if err := os.RemoveAll(ref); err != nil {
		return errs.Internalf(err, "process: remove %s", ref)
	}
	return nil
}

func notFound(id string) error {
	return errs.New(errs.NotFound, "instance_not_found", "no instance %q", id)
}

func (r *Runtime) get(id string) (*inst, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.insts[id]
	if in == nil {
		return nil, notFound(id)
	}
	return in, nil
}

// Run creates the instance s.Name and starts it on a free loopback port.
func (r *Runtime) Run(ctx context.Context, s deployer.RunSpec) (deployer.Instance, error) {
	if s.Name == "" || safeName(s.Name) != s.Name {
		return deployer.Instance{}, errs.New(errs.Invalid, "invalid_name", "instance name %q: use letters, digits, '-', '_' and '.'", s.Name)
	}
	if _, err := os.Stat(s.Artifact); err != nil || !strings.HasPrefix(s.Artifact, r.builds+string(filepath.Separator)) {
		return deployer.Instance{}, errs.New(errs.NotFound, "artifact_not_found", "no artifact %q in this runtime", s.Artifact)
	}
	in := &inst{st: state{Name: s.Name, Artifact: s.Artifact, Plan: s.Plan, Env: s.Env, Labels: s.Labels,
		MemoryBytes: s.MemoryBytes, NanoCPUs: s.NanoCPUs}, state: deployer.StateStopped}
	r.mu.Lock()
	if r.insts[s.Name] != nil {
		r.mu.Unlock()
		return deployer.Instance{}, errs.New(errs.Conflict, "instance_exists", "instance %q exists", s.Name)
	}
	r.insts[s.Name] = in
	r.mu.Unlock()
	if err := os.MkdirAll(r.instDir(s.Name), 0o700); err != nil {
		r.forget(s.Name)
		return deployer.Instance{}, errs.Internalf(err, "process: create instance directory")
	}
	in.mu.Lock()
	err := r.start(in)
	i := r.instance(in)
	in.mu.Unlock()
	if err != nil {
		r.Remove(ctx, s.Name)
		return deployer.Instance{}, err
	}
	return i, nil
}

func (r *Runtime) forget(name string) {
	r.mu.Lock()
	delete(r.insts, name)
	r.mu.Unlock()
}

func (r *Runtime) instDir(name string) string { return filepath.Join(r.instances, name) }
func (r *Runtime) logPath(name string) string { return filepath.Join(r.instDir(name), "app.log") }

func (r *Runtime) save(in *inst) {
	b, _ := json.MarshalIndent(in.st, "", "  ")
	tmp := filepath.Join(r.instDir(in.st.Name), "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err == nil {
		os.Rename(tmp, filepath.Join(r.instDir(in.st.Name), "state.json"))
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start starts in's process (or static server); in.mu is held.
func (r *Runtime) start(in *inst) error {
	if deployer.IsStaticSite(in.st.Plan) {
		return r.startStatic(in, 0)
	}
	port, err := freePort()
	if err != nil {
		return errs.Internalf(err, "process: find a free port")
	}
	logf, err := os.OpenFile(r.logPath(in.st.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return errs.Internalf(err, "process: open log")
	}
	defer logf.Close() // the child has its own copy
	env := r.env(in.st.Plan.Env, in.st.Env, map[string]string{"PORT": strconv.Itoa(port), "HOST": "127.0.0.1"})
	script := in.st.Plan.Start
	attr := &syscall.SysProcAttr{Setpgid: true}
	in.memory, in.cpus, in.cgroup = 0, 0, ""
	if cg, fd, ok := r.cgroup(in); ok {
		defer fd.Close()
		attr.UseCgroupFD, attr.CgroupFD = true, int(fd.Fd())
		in.cgroup, in.memory, in.cpus = cg, in.st.MemoryBytes, in.st.NanoCPUs
	} else if in.st.MemoryBytes > 0 {
		as := in.st.MemoryBytes + AddressSpaceHeadroom
		script = "ulimit -v " + strconv.FormatInt(as/1024, 10) + " || exit 125\n" + script
		in.memory = as
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr, cmd.SysProcAttr = in.st.Artifact, env, logf, logf, attr
	if err := cmd.Start(); err != nil {
		return errs.Internalf(err, "process: start %s", in.st.Name)
	}
	in.st.PID, in.st.PIDStart, in.st.Port, in.st.Running, in.st.StartedAt = cmd.Process.Pid, procStart(cmd.Process.Pid), port, true, time.Now().UTC()
	in.state = deployer.StateRunning
	exited := make(chan struct{})
	in.exited = exited
	r.save(in)
	go func() {
		err := cmd.Wait()
		close(exited) // first: stop waits for it while holding in.mu
		in.mu.Lock()
		if in.exited == exited && in.state == deployer.StateRunning {
			in.state = deployer.StateExited
			r.log.Info("process: app exited", "instance", in.st.Name, "err", err)
		}
		in.mu.Unlock()
	}()
	r.watchLog(in)
	return nil
}

// procStart returns the start time of pid from /proc (field 22), or "".
func procStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		if len(f) > 19 {
			return f[19]
		}
	}
	return ""
}

func (r *Runtime) startStatic(in *inst, port int) error {
	root, err := os.OpenRoot(in.st.Artifact)
	if err != nil {
		return errs.Internalf(err, "process: open %s", in.st.Artifact)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil && port != 0 {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		root.Close()
		return errs.Internalf(err, "process: listen")
	}
	logf, err := os.OpenFile(r.logPath(in.st.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		l.Close()
		root.Close()
		return errs.Internalf(err, "process: open log")
	}
	var logMu sync.Mutex
	fsrv := http.FileServerFS(root.FS())
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Server", "mosaic-static")
		fsrv.ServeHTTP(w, req)
		logMu.Lock()
		fmt.Fprintf(logf, "%s %s %s\n", time.Now().UTC().Format(time.RFC3339), req.Method, req.URL.Path)
		logMu.Unlock()
	})}
	fmt.Fprintf(logf, "%s serving static files on %s\n", time.Now().UTC().Format(time.RFC3339), l.Addr())
	exited := make(chan struct{})
	in.srv, in.exited = srv, exited
	go func() {
		srv.Serve(l)
		root.Close()
		logMu.Lock()
		logf.Close()
		logMu.Unlock()
		close(exited)
	}()
	in.st.PID, in.st.PIDStart, in.st.Port, in.st.Running, in.st.StartedAt = 0, "", l.Addr().(*net.TCPAddr).Port, true, time.Now().UTC()
	in.state, in.memory, in.cpus = deployer.StateRunning, 0, 0
	r.save(in)
	r.watchLog(in)
	return nil
}

// cgroup makes the instance's cgroup v2 directory with its limits, when
// the hierarchy is writable, and opens it for SysProcAttr.CgroupFD.
func (r *Runtime) cgroup(in *inst) (string, *os.File, bool) {
	if in.st.MemoryBytes <= 0 && in.st.NanoCPUs <= 0 {
		return "", nil, false
	}
	parent := filepath.Dir(r.cgroupRoot)
	if _, err := os.Stat(filepath.Join(parent, "cgroup.controllers")); err != nil {
		return "", nil, false
	}
	if err := os.MkdirAll(r.cgroupRoot, 0o755); err != nil {
		return "", nil, false
	}
	// Delegate the controllers to our subtree (no-op when already on).
	os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+memory +cpu"), 0)
	os.WriteFile(filepath.Join(r.cgroupRoot, "cgroup.subtree_control"), []byte("+memory +cpu"), 0)
	dir := filepath.Join(r.cgroupRoot, in.st.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, false
	}
	ok := true
	if in.st.MemoryBytes > 0 {
		ok = os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(in.st.MemoryBytes, 10)), 0) == nil && ok
	}
	if in.st.NanoCPUs > 0 {
		const period = 100000
		quota := in.st.NanoCPUs * period / 1e9
		ok = os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(fmt.Sprintf("%d %d", quota, period)), 0) == nil && ok
	}
	f, err := os.Open(dir)
	if !ok || err != nil {
		if f != nil {
			f.Close()
		}
		os.Remove(dir)
		return "", nil, false
	}
	return dir, f, true
}

// watchLog keeps the instance's log under maxLog while it runs: past the
// limit, the current log becomes app.log.1 (the older half is dropped) and
// app.log starts over. Lines written during the copy may be lost.
func (r *Runtime) watchLog(in *inst) {
	if in.logStop != nil {
		close(in.logStop)
	}
	stop := make(chan struct{})
	in.logStop = stop
	name, exited := in.st.Name, in.exited
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-exited:
				r.trimLog(name)
				return
			case <-t.C:
				r.trimLog(name)
			}
		}
	}()
}

func (r *Runtime) trimLog(name string) {
	p := r.logPath(name)
	st, err := os.Stat(p)
	if err != nil || st.Size() <= r.maxLog/2 {
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return
	}
	if len(b) > int(r.maxLog/2) {
		b = b[len(b)-int(r.maxLog/2):]
	}
	if os.WriteFile(p+".1", b, 0o600) == nil {
		os.Truncate(p, 0) // the app appends (O_APPEND), so it goes on at offset 0
	}
}

// instance reports in; in.mu is held.
func (r *Runtime) instance(in *inst) deployer.Instance {
	i := deployer.Instance{ID: in.st.Name, Name: in.st.Name, Artifact: in.st.Artifact, State: in.state,
		StartedAt: in.st.StartedAt, Labels: copyMap(in.st.Labels), MemoryBytes: in.memory, NanoCPUs: in.cpus}
	if in.state == deployer.StateRunning {
		i.Addr = "127.0.0.1:" + strconv.Itoa(in.st.Port)
	}
	return i
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// PID returns the process id of a running instance (0 for a static site
// served in-process, or when it is not running), for tests and operators.
func (r *Runtime) PID(id string) int {
	in, err := r.get(id)
	if err != nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state != deployer.StateRunning {
		return 0
	}
	return in.st.PID
}

// Start starts a stopped or exited instance again, on a new port.
func (r *Runtime) Start(ctx context.Context, id string) (deployer.Instance, error) {
	in, err := r.get(id)
	if err != nil {
		return deployer.Instance{}, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state != deployer.StateRunning {
		if err := r.start(in); err != nil {
			return deployer.Instance{}, err
		}
	}
	return r.instance(in), nil
}

// Stop sends SIGTERM to the instance's process group and SIGKILL after
// timeout; a static site's server is shut down.
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	in, err := r.get(id)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	r.stop(in, timeout)
	in.st.Running = false
	r.save(in)
	return nil
}

// stop ends the current process; in.mu is held.
func (r *Runtime) stop(in *inst, timeout time.Duration) {
	if in.state == deployer.StateRunning {
		in.state = deployer.StateStopped
	} else if in.state == deployer.StateExited {
		in.state = deployer.StateStopped
	}
	exited := in.exited
	if in.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		in.srv.Shutdown(ctx)
		cancel()
		in.srv.Close()
		in.srv = nil
	} else if in.st.PID > 0 {
		pid := in.st.PID
		syscall.Kill(-pid, syscall.SIGTERM)
		if !waitExit(exited, pid, in.st.PIDStart, timeout) {
			syscall.Kill(-pid, syscall.SIGKILL)
			waitExit(exited, pid, in.st.PIDStart, 5*time.Second)
		}
		// Whatever else is left in the group (a background child), until
		// none of it runs.
		for i := 0; i < 250 && groupRunning(pid); i++ {
			syscall.Kill(-pid, syscall.SIGKILL)
			time.Sleep(20 * time.Millisecond)
		}
	}
	if in.logStop != nil {
		close(in.logStop)
		in.logStop = nil
	}
	if in.cgroup != "" {
		os.WriteFile(filepath.Join(in.cgroup, "cgroup.kill"), []byte("1"), 0)
		for i := 0; i < 50 && os.Remove(in.cgroup) != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		in.cgroup = ""
	}
	in.st.PID = 0
}

// waitExit waits for exited to close (our child) or, for an adopted
// process, for pid to disappear.
func waitExit(exited chan struct{}, pid int, start string, d time.Duration) bool {
	deadline := time.After(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if exited == nil && !alive(pid, start) {
			return true
		}
		select {
		case <-exited:
			return true
		case <-deadline:
			return false
		case <-tick.C:
		}
	}
}

// groupRunning reports whether a process of group pgid is alive (not a zombie).
func groupRunning(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	want := strconv.Itoa(pgid)
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// Fields after the name: state, ppid, pgrp.
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[2] == want && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

func alive(pid int, start string) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	s := procStart(pid)
	if s == "" {
		return false
	}
	// A zombie is not alive.
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && strings.HasPrefix(strings.TrimSpace(string(b[i+1:])), "Z") {
			return false
		}
	}
	return start == "" || s == start
}

// Restart stops and starts the instance (10 s grace).
func (r *Runtime) Restart(ctx context.Context, id string) (deployer.Instance, error) {
	in, err := r.get(id)
	if err != nil {
		return deployer.Instance{}, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	r.stop(in, 10*time.Second)
	if err := r.start(in); err != nil {
		return deployer.Instance{}, err
	}
	return r.instance(in), nil
}

// Remove stops the instance and deletes its state and logs.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	in, err := r.get(id)
	if err != nil {
		return err
	}
	in.mu.Lock()
	r.stop(in, 10*time.Second)
	in.mu.Unlock()
	r.forget(id)
	if err := os.RemoveAll(r.instDir(id)); err != nil {
		return errs.Internalf(err, "process: remove %s", id)
	}
	return nil
}

// Logs writes the instance's output; with follow, it keeps writing new
// output until ctx is done or the instance stops.
func (r *Runtime) Logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	in, err := r.get(id)
	if err != nil {
		return err
	}
	p := r.logPath(id)
	if b, err := os.ReadFile(p + ".1"); err == nil {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errs.Internalf(err, "process: open log")
	}
	defer f.Close()
	var off int64
	copyNew := func() error {
		if st, err := f.Stat(); err == nil && st.Size() < off {
			off = 0 // trimmed: start over
		}
		n, err := io.Copy(w, io.NewSectionReader(f, off, 1<<62))
		off += n
		if fl, ok := w.(interface{ Flush() }); ok && n > 0 {
			fl.Flush()
		}
		return err
	}
	if err := copyNew(); err != nil || !follow {
		return err
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := copyNew(); err != nil {
			return err
		}
		in.mu.Lock()
		running := in.state == deployer.StateRunning
		in.mu.Unlock()
		if !running {
			return copyNew()
		}
	}
}

// Inspect reports one instance.
func (r *Runtime) Inspect(ctx context.Context, id string) (deployer.Instance, error) {
	in, err := r.get(id)
	if err != nil {
		return deployer.Instance{}, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return r.instance(in), nil
}

// List returns the instances whose labels include all of match, by name.
func (r *Runtime) List(ctx context.Context, match map[string]string) ([]deployer.Instance, error) {
	r.mu.Lock()
	all := make([]*inst, 0, len(r.insts))
	for _, in := range r.insts {
		all = append(all, in)
	}
	r.mu.Unlock()
	var out []deployer.Instance
	for _, in := range all {
		in.mu.Lock()
		ok := true
		for k, v := range match {
			if in.st.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, r.instance(in))
		}
		in.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Close stops the static sites this Runtime serves in-process. Child
// processes keep running (a new Runtime on the same Dir adopts them); use
// Remove to end them.
func (r *Runtime) Close() error {
	r.mu.Lock()
	all := make([]*inst, 0, len(r.insts))
	for _, in := range r.insts {
		all = append(all, in)
	}
	r.mu.Unlock()
	for _, in := range all {
		in.mu.Lock()
		if in.srv != nil {
			in.srv.Close()
			in.srv = nil
			in.state = deployer.StateStopped
		}
		if in.logStop != nil {
			close(in.logStop)
			in.logStop = nil
		}
		in.mu.Unlock()
	}
	return nil
}

// adopt loads the instances a previous Runtime left in Dir.
func (r *Runtime) adopt() error {
	entries, err := os.ReadDir(r.instances)
	if err != nil {
		return errs.Internalf(err, "process: read %s", r.instances)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(r.instances, e.Name(), "state.json"))
		if err != nil {
			continue
		}
		var st state
		if json.Unmarshal(b, &st) != nil || st.Name != e.Name() {
			continue
		}
		in := &inst{st: st, state: deployer.StateStopped}
		switch {
		case !st.Running:
		case deployer.IsStaticSite(st.Plan):
			if err := r.startStatic(in, st.Port); err != nil {
				r.log.Warn("process: could not serve an adopted static site", "instance", st.Name, "err", err)
			}
		case alive(st.PID, st.PIDStart):
			in.state = deployer.StateRunning
			in.memory, in.cpus = readLimits(st.PID)
			exited := make(chan struct{})
			in.exited = exited
			go func(pid int, start string) { // not our child: poll
				for alive(pid, start) {
					time.Sleep(500 * time.Millisecond)
				}
				close(exited)
				in.mu.Lock()
				if in.exited == exited && in.state == deployer.StateRunning {
					in.state = deployer.StateExited
				}
				in.mu.Unlock()
			}(st.PID, st.PIDStart)
			r.watchLog(in)
		default:
			in.state = deployer.StateExited
		}
		r.insts[st.Name] = in
	}
	return nil
}

// readLimits reads the address-space limit of pid from /proc.
func readLimits(pid int) (int64, int64) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Max address space") {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 4 {
				n, _ := strconv.ParseInt(fields[3], 10, 64)
				return n, 0
			}
		}
	}
	return 0, 0
}
