package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func TestMain(m *testing.M) { mosaictest.Main(m) }

// tour runs the program and returns its output.
func tour(t *testing.T, cfg config) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, cfg, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func line(t *testing.T, out, pattern string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + pattern + `$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no line matches %q", pattern)
	}
	return m
}

func TestEmbed(t *testing.T) {
	dbURL := mosaictest.DatabaseURL(t)
	dataDir := t.TempDir()
	out := tour(t, config{DatabaseURL: dbURL, RedisURL: mosaictest.RedisURL(t), DataDir: dataDir})

	slug := line(t, out, `project: (embed-[0-9a-f]{8}) \(plan pro, database (\S+)\)`)
	if want := mosaic.DatabaseName(slug[1]); slug[2] != want {
		t.Errorf("database %q, want %q", slug[2], want)
	}

	// SQL: the rows selected are the two inserted with parameters, in order.
	line(t, out, `sql: created table notes, inserted 2 rows`)
	if got := regexp.MustCompile(`(?m)^sql: row .*$`).FindAllString(out, -1); strings.Join(got, "\n") != "sql: row 1: \"first note\"\nsql: row 2: \"second note\"" {
		t.Errorf("selected rows: %q", got)
	}

	// Storage: the bytes that came back through the download URL are the
	// ones PUT to the upload URL, and the file sat in the data directory.
	line(t, out, `storage: uploaded docs/hello.txt \(`+strconv.Itoa(len(fileContent))+` bytes, text/plain\)`)
	got, err := strconv.Unquote(line(t, out, `storage: downloaded docs/hello.txt: (".*")`)[1])
	if err != nil || got != fileContent {
		t.Errorf("downloaded %q (%v), want %q", got, err, fileContent)
	}

	// Key-value: Redis answered.
	line(t, out, `kv: greeting = "hello, key-value"`)

	// Auth: login returns the user signup made; the magic link made and
	// verified another user, whose id the redirect carried.
	signup := line(t, out, `auth: signed up ada@example.com as (\S+)`)[1]
	login := line(t, out, `auth: logged in ada@example.com as (\S+)`)[1]
	if signup != login {
		t.Errorf("login returned user %s, signup made %s", login, signup)
	}
	// The log mailer wrote the email, with its link to this project's verify route.
	line(t, out, `.*msg="email not sent.*to=grace@example.com subject="Sign in to Embed demo".*/v1/project/`+slug[1]+`/auth/verify\?token=.*`)
	linked := line(t, out, `auth: followed the link: user_id=(\S+) verified=true`)[1]
	verified := line(t, out, `auth: user (\S+) is grace@example.com, email verified: true`)[1]
	if linked != verified || linked == signup {
		t.Errorf("magic-link user %s, platform's user %s, password user %s", linked, verified, signup)
	}

	// The project is gone afterwards: its database and its files.
	line(t, out, `project: deleted `+slug[1])
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_database WHERE datname = $1`, slug[2]).Scan(&n); err != nil || n != 0 {
		t.Errorf("database %s: %d left (%v)", slug[2], n, err)
	}
	var files []string
	filepath.WalkDir(filepath.Join(dataDir, "storage"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(path, "hello.txt") {
			files = append(files, path)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("files left behind: %q", files)
	}
}

// Without Redis the key-value part is skipped with a note, and the rest
// still runs.
func TestEmbedWithoutRedis(t *testing.T) {
	out := tour(t, config{DatabaseURL: mosaictest.DatabaseURL(t)})
	line(t, out, `kv: skipped: no Redis \(set MOSAIC_REDIS_URL to use the key-value store\)`)
	if strings.Contains(out, "kv: greeting") {
		t.Error("key-value used without Redis")
	}
	line(t, out, `auth: user \S+ is grace@example.com, email verified: true`)
}

// With no database URL, the program starts its own PostgreSQL: the one
// command of the package doc.
func TestEmbedLocalPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	out := tour(t, config{})
	line(t, out, `postgres: started a local server for this run`)
	line(t, out, `sql: row 2: "second note"`)
	line(t, out, `project: deleted embed-[0-9a-f]{8}`)
}
