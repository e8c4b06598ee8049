package localsvc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runAs is the OS identity a service process runs under. The zero value
// means the current user.
type runAs struct {
	name string
	uid  int
	gid  int
	set  bool // false: run as the current user, chown nothing
}

// serviceUser returns the identity to run a service as: the named OS user
// when this process is root, the current user otherwise.
func serviceUser(name string) (runAs, error) {
	if os.Geteuid() != 0 {
		return runAs{}, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return runAs{}, fmt.Errorf("running as root, so the server must run as OS user %q: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return runAs{}, fmt.Errorf("user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return runAs{}, fmt.Errorf("user %q: gid %q: %w", name, u.Gid, err)
	}
	return runAs{name: name, uid: uid, gid: gid, set: true}, nil
}

// chown gives path to the service user; a no-op when not switching users.
func (r runAs) chown(path string) error {
	if !r.set {
		return nil
	}
	if err := os.Lchown(path, r.uid, r.gid); err != nil {
		return fmt.Errorf("chown %s to %s: %w", path, r.name, err)
	}
	return nil
}

// canReach reports an error if the service user cannot search every ancestor
// of dir, which would make the server fail with a confusing message.
func (r runAs) canReach(dir string) error {
	if !r.set {
		return nil
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		searchable := mode&0o001 != 0 ||
			(ok && int(st.Uid) == r.uid && mode&0o100 != 0) ||
			(ok && int(st.Gid) == r.gid && mode&0o010 != 0)
		if !searchable {
			return fmt.Errorf("OS user %s cannot reach %s: ancestor %s has mode %v; make it searchable (chmod o+x) or chown it to %s",
				r.name, dir, d, mode, r.name)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// sysProcAttr puts the child in its own process group, asks the kernel to
// send it SIGTERM when this process dies, and switches to the service user.
func (r runAs) sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if r.set {
		a.Credential = &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid)}
	}
	return a
}

// command builds an exec.Cmd for a service binary: run as r, in dir, with
// stdout and stderr going to out. It deliberately does not use
// exec.CommandContext: a server must outlive the context that started it.
func (r runAs) command(dir string, out io.Writer, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = r.sysProcAttr()
	return cmd
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is a started server process and its exit.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// startProcess starts cmd and watches for its exit.
//
// The kernel sends the parent-death signal when the OS thread that forked the
// child exits, not only when the whole process does, and the Go runtime may
// retire threads. So the child is started from a goroutine locked to its
// thread, which stays blocked in Wait (keeping the thread alive) until the
// child exits.
func startProcess(name string, cmd *exec.Cmd) (*process, error) {
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process and waits for it to exit; if ctx expires
// first, it kills the whole process group. It is idempotent: later calls
// return the first call's result.
func (p *process) stop(ctx context.Context, sig syscall.Signal, log *slog.Logger) error {
	p.stopOnce.Do(func() { p.stopErr = p.doStop(ctx, sig, log) })
	return p.stopErr
}

func (p *process) doStop(ctx context.Context, sig syscall.Signal, log *slog.Logger) error {
	if p.exited() {
		// Died on its own earlier (or killed elsewhere); still reap the group.
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		return nil
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		log.Warn("signal failed, killing", "pid", p.pid(), "err", err)
	}
	select {
	case <-p.done:
		// Any children left in the group (there should be none) go too.
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		log.Info("stopped", "pid", p.pid(), "took", time.Since(start).Round(time.Millisecond))
		return nil
	case <-ctx.Done():
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
	log.Warn("killed after stop timeout", "pid", p.pid())
	return fmt.Errorf("%s did not stop in time and was killed: %w", p.name, context.Cause(ctx))
}

// kill kills the process group at once and waits for the leader to exit.
func (p *process) kill() {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// pidAlive reports whether a process with this pid exists (EPERM counts as
// existing: it is someone else's).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// pidArgs returns a process's command line, from /proc.
func pidArgs(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// logFile is an append-only log that remembers where the current run began,
// so an error can quote what this run wrote.
type logFile struct {
	path  string
	f     *os.File
	start int64
}

func openLog(path string, owner runAs) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if err := owner.chown(path); err != nil {
		f.Close()
		return nil, err
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{path: path, f: f, start: off}, nil
}

// mark starts a new section: tail will quote only what comes after.
func (l *logFile) mark(header string) {
	off, err := l.f.Seek(0, io.SeekEnd)
	if err == nil {
		l.start = off
	}
	fmt.Fprintf(l.f, "---- %s %s\n", time.Now().Format(time.RFC3339), header)
}

// tail returns up to the last n lines written since the last mark.
func (l *logFile) tail(n int) string {
	const maxBytes = 16 << 10
	f, err := os.Open(l.path)
	if err != nil {
		return ""
	}
	defer f.Close()
	start := l.start
	if end, err := f.Seek(0, io.SeekEnd); err == nil && end-start > maxBytes {
		start = end - maxBytes
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte{'\n'})
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte{'\n'}))
}

func (l *logFile) Close() error { return l.f.Close() }

// readiness says how to tell that a started server is up.
type readiness struct {
	every     time.Duration                               // poll interval
	portTaken []string                                    // log messages meaning the port was in use
	probe     func(ctx context.Context, p *process) error // nil once the server answers
}

// launch starts cmd and polls r.probe until it succeeds, the process exits
// (the error quotes the tail of its log, and wraps errPortTaken when the log
// has one of r.portTaken), or ctx expires. On failure the process is killed.
func launch(ctx context.Context, name string, cmd *exec.Cmd, logf *logFile, r readiness) (*process, error) {
	proc, err := startProcess(name, cmd)
	if err != nil {
		return nil, fmt.Errorf("localsvc: %w", err)
	}
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	var lastErr error
	for {
		if proc.exited() {
			tail := logf.tail(30)
			err := fmt.Errorf("localsvc: %s exited during start (%v); %s:\n%s", name, proc.err, logf.path, tail)
			for _, m := range r.portTaken {
				if strings.Contains(tail, m) {
					return nil, fmt.Errorf("%w: %w", errPortTaken, err)
				}
			}
			return nil, err
		}
		if lastErr = r.probe(ctx, proc); lastErr == nil {
			return proc, nil
		}
		select {
		case <-ctx.Done():
			proc.kill()
			return nil, fmt.Errorf("localsvc: %s not ready (last error: %v): %w; %s:\n%s",
				name, lastErr, context.Cause(ctx), logf.path, logf.tail(30))
		case <-proc.done:
		case <-tick.C:
		}
	}
}

// onFreePort calls start with port, or, when port is 0, with a free port;
// a free port can be taken between choosing it and the server binding it,
// so a start that fails with errPortTaken is tried again (three times in
// all) with another.
func onFreePort(port int, log *slog.Logger, start func(port int) error) error {
	const attempts = 3
	for attempt := 1; ; attempt++ {
		p := port
		if p == 0 {
			var err error
			if p, err = freePort(); err != nil {
				return err
			}
		}
		err := start(p)
		if err == nil || port != 0 || attempt == attempts || !errors.Is(err, errPortTaken) {
			return err
		}
		log.Warn("port taken, retrying with another", "port", p, "err", err)
	}
}
