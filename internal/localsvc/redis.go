package localsvc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	redisConfFile = "redis.conf"
	redisLogFile  = "redis.log"
)

// RedisOptions configure StartRedis.
type RedisOptions struct {
	// Dir is the state directory: redis.conf and redis.log. Required; it is
	// created if missing. Nothing is persisted (no RDB, no AOF): the server
	// starts empty every time.
	Dir string
	// Port to listen on at 127.0.0.1; 0 picks a free port (retrying with
	// another if it is taken before the server binds it). Restarting on the
	// port of a stopped server is how tests simulate an outage.
	Port int
	// Binary is the redis-server executable; "" finds it on PATH, else
	// /usr/bin/redis-server.
	Binary string
	// Logger receives lifecycle events; nil discards them. The server's own
	// output goes to Dir/redis.log.
	Logger *slog.Logger
}

// Redis is a running redis-server started by StartRedis.
type Redis struct {
	dir  string
	port int
	log  *slog.Logger
	logf *logFile
	proc *process
}

// StartRedis starts redis-server on 127.0.0.1 with its own configuration
// (no persistence, noeviction, DEBUG allowed from loopback for tests and
// benchmarks) and returns once it answers PING. The server keeps running
// after ctx ends; ctx bounds only the start (2 minutes if it has no
// deadline). Call Stop to shut it down. Redis runs fine as root, so unlike
// PostgreSQL it runs as the current user.
func StartRedis(ctx context.Context, o RedisOptions) (*Redis, error) {
	if o.Dir == "" {
		return nil, errors.New("localsvc: RedisOptions.Dir is required")
	}
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("localsvc: invalid port %d", o.Port)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	bin := o.Binary
	if bin == "" {
		if bin, err = exec.LookPath("redis-server"); err != nil {
			bin = "/usr/bin/redis-server"
			if _, err := os.Stat(bin); err != nil {
				return nil, errors.New("localsvc: redis-server not found: install Redis (scripts/setup, or apt-get install redis-server)")
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localsvc: %w", err)
	}
	log := o.Logger.With("service", "redis", "dir", dir)
	logf, err := openLog(filepath.Join(dir, redisLogFile), runAs{})
	if err != nil {
		return nil, fmt.Errorf("localsvc: redis log: %w", err)
	}
	r := &Redis{dir: dir, log: log, logf: logf}

	if err := onFreePort(o.Port, log, func(port int) error { return r.start(ctx, bin, port) }); err != nil {
		logf.Close()
		return nil, err
	}
	return r, nil
}

// redisConf is the server's whole configuration.
func redisConf(dir string, port int) string {
	return strings.Join([]string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(port),
		"protected-mode yes",
		"daemonize no",
		"dir " + strconv.Quote(dir),
		`logfile ""`,
		`save ""`,
		"appendonly no",
		"maxmemory-policy noeviction",
		"enable-debug-command local",
		"databases 16",
		"",
	}, "\n")
}

func (r *Redis) start(ctx context.Context, bin string, port int) error {
	began := time.Now()
	conf := filepath.Join(r.dir, redisConfFile)
	if err := os.WriteFile(conf, []byte(redisConf(r.dir, port)), 0o600); err != nil {
		return fmt.Errorf("localsvc: write %s: %w", conf, err)
	}
	r.logf.mark(fmt.Sprintf("redis-server port=%d", port))
	cmd := runAs{}.command(r.dir, r.logf.f, bin, conf)
	r.port = port
	proc, err := launch(ctx, "redis-server", cmd, r.logf, readiness{
		every:     20 * time.Millisecond,
		portTaken: []string{"Address already in use"},
		probe:     func(ctx context.Context, proc *process) error { return r.ping(ctx, proc.pid()) },
	})
	if err != nil {
		return err
	}
	r.proc = proc
	r.log.Info("redis started", "port", port, "pid", proc.pid(), "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// ping asks the server on our port for its process id (INFO server) and
// checks that it is pid: another server already on the port must not pass
// for ours.
func (r *Redis) ping(ctx context.Context, pid int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", r.Addr())
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")); err != nil {
		return err
	}
	rd := bufio.NewReader(c)
	head, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	head = strings.TrimSpace(head)
	if !strings.HasPrefix(head, "$") {
		return fmt.Errorf("INFO answered %q", head)
	}
	n, err := strconv.Atoi(head[1:])
	if err != nil || n < 0 {
		return fmt.Errorf("INFO answered %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rd, body); err != nil {
		return err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			if v != strconv.Itoa(pid) {
				return fmt.Errorf("%w: another redis-server (pid %s) answers on port %d", errPortTaken, v, r.port)
			}
			return nil
		}
	}
	return errors.New("INFO server has no process_id")
}

// URL returns redis://127.0.0.1:<port>/0.
func (r *Redis) URL() string {
	return (&url.URL{Scheme: "redis", Host: r.Addr(), Path: "/0"}).String()
}

// Addr returns 127.0.0.1:<port>.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Port returns the TCP port the server listens on at 127.0.0.1.
func (r *Redis) Port() int { return r.port }

// Dir returns the state directory (absolute).
func (r *Redis) Dir() string { return r.dir }

// Stop shuts the server down (SIGTERM; nothing is saved) and waits for it to
// exit. If ctx expires first, the process group is killed with SIGKILL and an
// error is returned. Stop is idempotent.
func (r *Redis) Stop(ctx context.Context) error {
	err := r.proc.stop(ctx, syscall.SIGTERM, r.log)
	r.logf.Close()
	return err
}
