package localsvc

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RunningPostgres reports whether a server started by StartPostgres is
// running on the state directory dir (for example, `mosaic serve` while
// `mosaic keys` runs), and returns its superuser URL. It reads
// pgdata/postmaster.pid: the server's pid (checked to be alive) and its port.
func RunningPostgres(dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, pgDataDir, "postmaster.pid"))
	if err != nil {
		return "", false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return "", false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, err2 := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err1 != nil || err2 != nil || !pidAlive(pid) {
		return "", false
	}
	pw, err := os.ReadFile(filepath.Join(dir, pgPasswordFile))
	if err != nil {
		return "", false
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(pgSuperuser, strings.TrimSpace(string(pw))),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	return u.String(), true
}
