package localsvc

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func redisCmd(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func TestRedisStartStopRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "redis")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	r, err := StartRedis(ctx, RedisOptions{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") || r.Port() == 0 {
		t.Fatalf("URL %s", r.URL())
	}
	if got := redisCmd(t, r.Addr(), "SET k v"); got != "+OK" {
		t.Fatalf("SET: %s", got)
	}
	// Its own config: no persistence, DEBUG allowed from loopback.
	if got := redisCmd(t, r.Addr(), "DEBUG SLEEP 0"); got != "+OK" {
		t.Fatalf("DEBUG SLEEP 0: %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "redis.conf")); err != nil {
		t.Fatal(err)
	}
	port := r.Port()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after Stop")
	}
	// Restart on the same port: empty, as nothing persists.
	r2, err := StartRedis(ctx, RedisOptions{Dir: dir, Port: port, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop(context.Background())
	if got := redisCmd(t, r2.Addr(), "EXISTS k"); got != ":0" {
		t.Fatalf("EXISTS after restart: %s", got)
	}
	// A taken port is an error that names it.
	if _, err := StartRedis(ctx, RedisOptions{Dir: filepath.Join(t.TempDir(), "r3"), Port: port}); err == nil || !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("start on a taken port: %v", err)
	}
}
