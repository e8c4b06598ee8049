package localsvc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

const (
	minioDataDir    = "data"
	minioLogFile    = "minio.log"
	minioSecretFile = "root-secret"
)

// MinIOOptions configure StartMinIO.
type MinIOOptions struct {
	// Dir is the state directory: Dir/data (the objects), Dir/minio.log and
	// Dir/root-secret (the root password, generated on first start and
	// reused). Required; created if missing.
	Dir string
	// Port to listen on at 127.0.0.1; 0 picks a free port (retrying with
	// another if it is taken before the server binds it).
	Port int
	// Binary is the minio executable; "" means MinIOBinary().
	Binary string
	// AccessKey is the root user (default "mosaicadmin").
	AccessKey string
	// Logger receives lifecycle events; nil discards them. The server's own
	// output goes to Dir/minio.log.
	Logger *slog.Logger
}

// MinIO is a running MinIO server started by StartMinIO.
type MinIO struct {
	dir       string
	port      int
	accessKey string
	secretKey string
	log       *slog.Logger
	logf      *logFile
	proc      *process
}

// MinIOBinary returns where scripts/setup installs the MinIO server:
// $MOSAIC_CACHE_DIR/bin/minio, default $HOME/.cache/mosaic/bin/minio.
func MinIOBinary() string {
	dir := os.Getenv("MOSAIC_CACHE_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "/root"
		}
		dir = filepath.Join(home, ".cache", "mosaic")
	}
	return filepath.Join(dir, "bin", "minio")
}

// StartMinIO starts a single-drive MinIO server on 127.0.0.1 (web console
// off) and returns once its liveness endpoint answers. The server keeps
// running after ctx ends; ctx bounds only the start (2 minutes if it has no
// deadline). Call Stop to shut it down. MinIO runs fine as root, so it runs
// as the current user.
func StartMinIO(ctx context.Context, o MinIOOptions) (*MinIO, error) {
	if o.Dir == "" {
		return nil, errors.New("localsvc: MinIOOptions.Dir is required")
	}
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("localsvc: invalid port %d", o.Port)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AccessKey == "" {
		o.AccessKey = "mosaicadmin"
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
		bin = MinIOBinary()
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("localsvc: no MinIO server binary at %s: run scripts/setup (it builds one there)", bin)
	}
	if err := os.MkdirAll(filepath.Join(dir, minioDataDir), 0o700); err != nil {
		return nil, fmt.Errorf("localsvc: %w", err)
	}
	secret, err := minioSecret(filepath.Join(dir, minioSecretFile))
	if err != nil {
		return nil, fmt.Errorf("localsvc: minio secret: %w", err)
	}
	log := o.Logger.With("service", "minio", "dir", dir)
	logf, err := openLog(filepath.Join(dir, minioLogFile), runAs{})
	if err != nil {
		return nil, fmt.Errorf("localsvc: minio log: %w", err)
	}
	m := &MinIO{dir: dir, accessKey: o.AccessKey, secretKey: secret, log: log, logf: logf}

	if err := onFreePort(o.Port, log, func(port int) error { return m.start(ctx, bin, port) }); err != nil {
		logf.Close()
		return nil, err
	}
	return m, nil
}

// minioSecret reads the root password kept in path, or makes one.
func minioSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) >= 16 {
		return string(b), nil
	}
	b := make([]byte, 16)
	rand.Read(b)
	s := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		return "", err
	}
	return s, nil
}

func (m *MinIO) start(ctx context.Context, bin string, port int) error {
	began := time.Now()
	m.logf.mark(fmt.Sprintf("minio port=%d", port))
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := runAs{}.command(m.dir, m.logf.f, bin, "server", "--address", addr, "--quiet", "--anonymous", filepath.Join(m.dir, minioDataDir))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.accessKey,
		"MINIO_ROOT_PASSWORD="+m.secretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
	)
	m.port = port
	hc := &http.Client{Timeout: 2 * time.Second}
	proc, err := launch(ctx, "minio", cmd, m.logf, readiness{
		every:     50 * time.Millisecond,
		portTaken: []string{"port is already in use", "address already in use"},
		probe: func(ctx context.Context, _ *process) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/minio/health/ready", nil)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("readiness answered %s", resp.Status)
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	m.proc = proc
	m.log.Info("minio started", "port", port, "pid", proc.pid(), "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// Endpoint returns 127.0.0.1:<port> (plain HTTP).
func (m *MinIO) Endpoint() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port)) }

// URL returns http://127.0.0.1:<port>.
func (m *MinIO) URL() string { return "http://" + m.Endpoint() }

// AccessKey returns the root user.
func (m *MinIO) AccessKey() string { return m.accessKey }

// SecretKey returns the root password.
func (m *MinIO) SecretKey() string { return m.secretKey }

// Port returns the TCP port the server listens on at 127.0.0.1.
func (m *MinIO) Port() int { return m.port }

// Dir returns the state directory (absolute).
func (m *MinIO) Dir() string { return m.dir }

// Stop shuts the server down (SIGTERM) and waits for it to exit. If ctx
// expires first, the process group is killed. Stop is idempotent.
func (m *MinIO) Stop(ctx context.Context) error {
	err := m.proc.stop(ctx, syscall.SIGTERM, m.log)
	m.logf.Close()
	return err
}
