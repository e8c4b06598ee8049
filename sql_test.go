package mosaic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// postSQL sends POST /{slug}/sql with a raw JSON body and returns the status and body.
func postSQL(t *testing.T, env *mosaictest.Env, key, slug, body string) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest("POST", env.BaseURL+"/"+slug+"/sql", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, string(b)
}

func sqlBody(query string, params ...any) string {
	m := map[string]any{"query": query}
	if params != nil {
		m["params"] = params
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// mustSQL runs SQL in-process and returns the compact JSON of the rows.
func mustSQL(t *testing.T, env *mosaictest.Env, slug, q string, params ...any) *mosaic.SQLResult {
	t.Helper()
	res, err := env.Platform.SQL(context.Background(), env.Account.ID, slug, q, params...)
	if err != nil {
		t.Fatalf("SQL(%q): %v", q, err)
	}
	return res
}

// TestSQLTypes: every type's value in → exact JSON out, and the same value
// sent back as a JSON param into a column of that type comes out the same.
func TestSQLTypes(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	cp := env.Project(t)
	mustSQL(t, env, cp.Slug, `CREATE TYPE mood AS ENUM ('sad', 'happy'); CREATE DOMAIN posint AS int CHECK (VALUE > 0); CREATE TYPE pair AS (a int, b text)`)
	cases := []struct {
		typ, lit, want string
		noParam        bool // the JSON output is not accepted back as input
	}{
		{"int2", "-32768", `-32768`, false},
		{"int4", "2147483647", `2147483647`, false},
		{"int8", "9007199254740992", `9007199254740992`, false},
		{"int8", "-9007199254740992", `-9007199254740992`, false},
		{"int8", "9007199254740993", `"9007199254740993"`, false},
		{"int8", "9223372036854775807", `"9223372036854775807"`, false},
		{"int8", "-9223372036854775808", `"-9223372036854775808"`, false},
		{"numeric", "0.1 + 0.2", `"0.3"`, false},
		{"numeric", "1e1000", `"1` + strings.Repeat("0", 1000) + `"`, false},
		{"numeric", "'NaN'", `"NaN"`, false},
		{"numeric", "12345678901234567890.123456789", `"12345678901234567890.123456789"`, false},
		{"float8", "0.1", `0.1`, false},
		{"float8", "1e300", `1e+300`, false},
		{"float8", "'NaN'", `"NaN"`, false},
		{"float8", "'Infinity'", `"Infinity"`, false},
		{"float8", "'-Infinity'", `"-Infinity"`, false},
		{"float4", "1.5", `1.5`, false},
		{"bool", "true", `true`, false},
		{"bool", "false", `false`, false},
		{"text", `'he said "hi"\' || chr(10) || '\'`, `"he said \"hi\"\\\n\\"`, false},
		{"text", "'héllo ✓'", `"héllo ✓"`, false},
		{"varchar(5)", "'abc'", `"abc"`, false},
		{"char(3)", "'a'", `"a  "`, false},
		{"uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`, false},
		{"date", "'2024-01-02'", `"2024-01-02"`, false},
		{"date", "'infinity'", `"infinity"`, false},
		{"time", "'03:04:05.123'", `"03:04:05.123"`, false},
		{"timetz", "'03:04:05+02'", `"03:04:05+02:00"`, false},
		{"timestamp", "'2024-01-02 03:04:05.123456'", `"2024-01-02T03:04:05.123456"`, false},
		{"timestamp", "'-infinity'", `"-infinity"`, false},
		{"timestamptz", "'2024-01-02 03:04:05+05:30'", `"2024-01-01T21:34:05+00:00"`, false},
		{"timestamptz", "'infinity'", `"infinity"`, false},
		{"interval", "'1 day 2 hours 3.5 seconds'", `"P1DT2H3.5S"`, false},
		{"interval", "'-1 year'", `"P-1Y"`, false},
		{"bytea", `'\xdeadbeef'`, `"\\xdeadbeef"`, false},
		{"json", `'{"a": 12345678901234567890, "b": [1.000]}'`, `{"a": 12345678901234567890, "b": [1.000]}`, false},
		{"jsonb", `'{"big": 123456789012345678901234567890, "f": 0.1}'`, `{"f": 0.1, "big": 123456789012345678901234567890}`, false},
		{"jsonb", `'[1, "x", null]'`, `[1, "x", null]`, false},
		{"int4[]", "'{1,2,3}'", `[1,2,3]`, false},
		{"int4[]", "'{}'", `[]`, false},
		{"int4[]", "'{{1,2},{3,NULL}}'", `[[1,2],[3,null]]`, false},
		{"int8[]", "'{1,9223372036854775807}'", `[1,"9223372036854775807"]`, false},
		{"text[]", `'{"a b","c\"d",NULL,"NULL",""}'`, `["a b","c\"d",null,"NULL",""]`, false},
		{"float8[]", "'{NaN,1.5,-Infinity}'", `["NaN",1.5,"-Infinity"]`, false},
		{"bool[]", "'{t,f}'", `[true,false]`, false},
		{"uuid[]", "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'", `["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]`, false},
		{"jsonb[]", `ARRAY['{"a":1}'::jsonb, '2']`, `[{"a": 1},2]`, false},
		{"timestamptz[]", "'{2024-01-02 03:04:05+00,infinity}'", `["2024-01-02T03:04:05+00:00","infinity"]`, false},
		{"numeric[]", "'{1.10,NaN}'", `["1.10","NaN"]`, false},
		{"int4[]", "'[0:1]={7,8}'", `[7,8]`, true},
		{"box[]", "ARRAY[box '((1,1),(0,0))', box '((2,2),(1,1))']", `["(1,1),(0,0)","(2,2),(1,1)"]`, false},
		{"mood", "'happy'", `"happy"`, false},
		{"posint", "5", `5`, false},
		{"pair", "ROW(1, 'x y')", `"(1,\"x y\")"`, false},
		{"inet", "'10.0.0.1/8'", `"10.0.0.1/8"`, false},
		{"point", "'(1,2)'", `"(1,2)"`, false},
		{"int4range", "'[1,10)'", `"[1,10)"`, false},
		{"money", "12.5", `"$12.50"`, false},
		{"xml", "'<a>b</a>'", `"<a>b</a>"`, false},
		{"tsvector", "'a fat cat'", `"'a' 'cat' 'fat'"`, false},
		{"oid", "42", `42`, false},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d_%s", i, c.typ), func(t *testing.T) {
			res := mustSQL(t, env, cp.Slug, fmt.Sprintf("SELECT (%s)::%s AS v", c.lit, c.typ))
			want := `[{"v":` + c.want + `}]`
			if string(res.Rows) != want {
				t.Fatalf("SELECT (%s)::%s\n got %s\nwant %s", c.lit, c.typ, res.Rows, want)
			}
			if c.noParam {
				return
			}
			// The JSON value as a param, through HTTP, into the same type.
			tbl := fmt.Sprintf("rt_%d", i)
			mustSQL(t, env, cp.Slug, fmt.Sprintf("CREATE TABLE %s (v %s)", tbl, c.typ))
			status, _, body := postSQL(t, env, env.APIKey, cp.Slug,
				`{"query": "INSERT INTO `+tbl+` (v) VALUES ($1) RETURNING v", "params": [`+c.want+`]}`)
			if status != 200 {
				t.Fatalf("param round trip of %s: %d %s", c.want, status, body)
			}
			var out struct{ Rows json.RawMessage }
			json.Unmarshal([]byte(body), &out)
			if string(out.Rows) != want {
				t.Errorf("param round trip of %s: got %s, want %s", c.want, out.Rows, want)
			}
		})
	}
}

// TestSQLSpecExamples runs the API reference's three SQL examples verbatim over HTTP.
func TestSQLSpecExamples(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	cp := env.Project(t)
	status, m, body := postSQL(t, env, env.APIKey, cp.Slug, `{"query": "CREATE TABLE users (id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), email TEXT UNIQUE, name TEXT)"}`)
	if status != 200 || m["command"] != "CREATE TABLE" || m["row_count"] != 0.0 {
		t.Fatalf("create: %d %s", status, body)
	}
	status, m, body = postSQL(t, env, env.APIKey, cp.Slug, `{"query": "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING *", "params": ["alice@example.com", "Alice"]}`)
	if status != 200 || m["command"] != "INSERT" || m["row_count"] != 1.0 {
		t.Fatalf("insert: %d %s", status, body)
	}
	status, _, body = postSQL(t, env, env.APIKey, cp.Slug, `{"query": "SELECT * FROM users WHERE email = $1", "params": ["alice@example.com"]}`)
	var res struct {
		Rows     []map[string]any `json:"rows"`
		RowCount int              `json:"row_count"`
		Columns  []string         `json:"columns"`
		Command  string           `json:"command"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil || status != 200 {
		t.Fatalf("select: %d %s", status, body)
	}
	if res.RowCount != 1 || res.Command != "SELECT" || strings.Join(res.Columns, ",") != "id,email,name" || len(res.Rows) != 1 {
		t.Fatalf("select: %s", body)
	}
	if id, _ := res.Rows[0]["id"].(string); len(id) != 36 || res.Rows[0]["email"] != "alice@example.com" || res.Rows[0]["name"] != "Alice" {
		t.Errorf("row = %v", res.Rows[0])
	}
	// The typed client gives the same.
	cr, err := env.Client.SQL(context.Background(), cp.Slug, "SELECT * FROM users WHERE email = $1", "alice@example.com")
	if err != nil || cr.RowCount != 1 || cr.Command != "SELECT" {
		t.Fatalf("client: %+v %v", cr, err)
	}
	// The pgvector example: with the extension it works; without it, a clear 400 naming it.
	info, err := env.Client.ProjectInfo(context.Background(), cp.Slug)
	if err != nil {
		t.Fatal(err)
	}
	hasVector := false
	for _, e := range info.Database.Extensions {
		hasVector = hasVector || e == "vector"
	}
	status, m, body = postSQL(t, env, env.APIKey, cp.Slug, `{"query": "CREATE TABLE documents ( id UUID PRIMARY KEY DEFAULT uuid_generate_v4(), content TEXT, embedding vector(3) )"}`)
	if hasVector {
		if status != 200 {
			t.Fatalf("vector table: %d %s", status, body)
		}
		postSQL(t, env, env.APIKey, cp.Slug, `{"query": "INSERT INTO documents (content, embedding) VALUES ('a', $1)", "params": ["[1,2,3]"]}`)
		status, _, body = postSQL(t, env, env.APIKey, cp.Slug, `{"query": "SELECT content, embedding, 1 - (embedding <=> $1) AS similarity FROM documents ORDER BY embedding <=> $1 LIMIT 10", "params": [[1,2,3]]}`)
		if status != 200 || !strings.Contains(body, `"embedding":[1,2,3]`) {
			t.Fatalf("vector select: %d %s", status, body)
		}
	} else {
		if status != 400 || !strings.Contains(fmt.Sprint(m["detail"]), "vector") {
			t.Fatalf("vector table without pgvector: %d %s", status, body)
		}
		status, m, body = postSQL(t, env, env.APIKey, cp.Slug, `{"query": "CREATE EXTENSION vector"}`)
		if status != 400 || !strings.Contains(fmt.Sprint(m["detail"]), `"vector"`) || m["code"] == nil {
			t.Fatalf("CREATE EXTENSION vector: %d %s", status, body)
		}
	}
}

// TestSQLErrors: PostgreSQL errors are 400 with message, SQLSTATE and position; user mistakes are 4xx.
func TestSQLErrors(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	cp := env.Project(t)
	status, m, body := postSQL(t, env, env.APIKey, cp.Slug, sqlBody("SELECT nope FROM pg_class"))
	if status != 400 || m["code"] != "42703" || m["position"] != 8.0 || m["error"] != "sql_error" || !strings.Contains(fmt.Sprint(m["detail"]), `"nope"`) {
		t.Fatalf("undefined column: %d %s", status, body)
	}
	// The Go client sees the same fields.
	_, err := env.Client.SQL(context.Background(), cp.Slug, "SELEC 1")
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.Invalid || e.Fields["code"] != "42601" || e.Fields["position"] != 1.0 {
		t.Fatalf("syntax error through the client: %#v", err)
	}
	for _, c := range []struct{ body, code string }{
		{`{"query": ""}`, "invalid_query"},
		{`{"query": "   "}`, "invalid_query"},
		{`{"params": [1]}`, "invalid_query"},
		{`{"query": 1}`, "invalid_type"},
		{`{"query": "SELECT $1", "params": "x"}`, "invalid_type"},
		{`{"query": "SELECT $1::int", "params": ["x"]}`, "sql_error"},
		{`{"query": "SELECT $1, $2", "params": [1]}`, "sql_error"},
		{`{"query": "SELECT 1; SELECT 2", "params": [1]}`, "sql_error"},
		{`{"query": "SELECT $1::int[]", "params": [[1, [2]]]}`, "sql_error"},
		{`{"query": "SELECT 1/0"}`, "sql_error"},
		{`{"query": "SELECT '\u0000'"}`, "invalid_query"},
		{`not json`, "invalid_json"},
	} {
		status, m, body := postSQL(t, env, env.APIKey, cp.Slug, c.body)
		if status < 400 || status >= 500 || m["error"] != c.code {
			t.Errorf("%s: %d %s, want 4xx %s", c.body, status, body, c.code)
		}
	}
	// A script with several statements runs in one transaction: a failure undoes all of it.
	status, _, body = postSQL(t, env, env.APIKey, cp.Slug, sqlBody("CREATE TABLE s (x int); INSERT INTO s VALUES (1); SELECT 1/0"))
	if status != 400 {
		t.Fatalf("failing script: %d %s", status, body)
	}
	if status, _, body = postSQL(t, env, env.APIKey, cp.Slug, sqlBody("SELECT * FROM s")); status != 400 {
		t.Errorf("table of a failed script exists: %d %s", status, body)
	}
	res := mustSQL(t, env, cp.Slug, "CREATE TABLE s (x int); INSERT INTO s VALUES (1), (2); SELECT count(*) AS n FROM s")
	if string(res.Rows) != `[{"n":2}]` || res.Command != "SELECT" {
		t.Errorf("script result = %s %s", res.Rows, res.Command)
	}
}

// TestSQLForbidden: tenants cannot read files, run programs, create roles,
// change server settings or reach other databases.
func TestSQLForbidden(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	a, b := env.Project(t), env.Project(t)
	mustSQL(t, env, a.Slug, "CREATE TABLE t (x int)")
	for _, q := range []string{
		"SELECT pg_read_file('/etc/passwd')",
		"SELECT pg_ls_dir('.')",
		"COPY t FROM PROGRAM 'id'",
		"COPY t TO PROGRAM 'cat > /tmp/mosaic-pwned'",
		"COPY t FROM '/etc/passwd'",
		"SELECT lo_import('/etc/passwd')",
		"ALTER SYSTEM SET work_mem = '1GB'",
		"SET log_statement = 'none'",
		"SET ROLE postgres",
		"SET ROLE " + b.Credentials.User,
		"SET SESSION AUTHORIZATION postgres",
		"CREATE ROLE evil LOGIN",
		"CREATE DATABASE evil",
		"ALTER ROLE CURRENT_USER SUPERUSER",
		"CREATE EXTENSION dblink",
		"CREATE EXTENSION postgres_fdw",
		"SELECT dblink_connect('dbname=" + b.Credentials.Database + "')",
		"SELECT * FROM " + b.Credentials.Database + ".public.t",
		"SELECT passwd FROM pg_shadow",
		"SHOW data_directory",
		"CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'libc', 'getpid'",
	} {
		status, m, body := postSQL(t, env, env.APIKey, a.Slug, sqlBody(q))
		if status < 400 || status >= 500 || m["detail"] == "" || m["code"] == nil {
			t.Errorf("%s: %d %s, want a 4xx with a SQLSTATE", q, status, body)
		}
	}
}

// TestSQLIsolation: tenant A's SQL cannot see B's data by any catalog
// trick, and another account's slug is 404.
func TestSQLIsolation(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	a, b := env.Project(t), env.Project(t)
	mustSQL(t, env, b.Slug, "CREATE TABLE secret_b (s text); INSERT INTO secret_b VALUES ('top-secret-b')")
	for _, q := range []string{
		"SELECT relname FROM pg_class WHERE relname = 'secret_b'",
		"SELECT table_name FROM information_schema.tables WHERE table_name = 'secret_b'",
		"SELECT * FROM pg_stat_user_tables WHERE relname = 'secret_b'",
		"SELECT query FROM pg_stat_activity WHERE datname = '" + b.Credentials.Database + "' AND query LIKE '%secret%'",
		"SELECT * FROM pg_stat_statements WHERE query LIKE '%secret_b%'",
		"SELECT pg_database_size('" + b.Credentials.Database + "')",
	} {
		status, _, body := postSQL(t, env, env.APIKey, a.Slug, sqlBody(q))
		if strings.Contains(body, "secret_b") && status == 200 && !strings.Contains(body, `"rows":[]`) || strings.Contains(body, "top-secret-b") {
			t.Errorf("A sees B through %q: %d %s", q, status, body)
		}
	}
	_, otherKey, _ := env.NewAccount(t)
	status, m, body := postSQL(t, env, otherKey, a.Slug, sqlBody("SELECT 1"))
	if status != 404 || m["error"] != "project_not_found" {
		t.Errorf("another account's slug: %d %s", status, body)
	}
	if status, _, _ := postSQL(t, env, otherKey, a.Slug, `{"query": 1}`); status != 400 && status != 404 {
		t.Errorf("another account's slug with a bad body: %d", status)
	}
	// Only the tenant role ever runs the SQL.
	res := mustSQL(t, env, a.Slug, "SELECT current_user AS u, current_database() AS d")
	if want := fmt.Sprintf(`[{"u":%q,"d":%q}]`, a.Credentials.User, a.Credentials.Database); string(res.Rows) != want {
		t.Errorf("ran as %s, want %s", res.Rows, want)
	}
}

// TestSQLSessionHygiene: nothing a request does to its session leaks into the next.
func TestSQLSessionHygiene(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	cp := env.Project(t)
	mustSQL(t, env, cp.Slug, "CREATE TABLE h (x int)")
	admin := adminConn(t, cp.Credentials.URL())
	want := 1
	for _, q := range []string{
		"SET statement_timeout = 0",
		"SET search_path = pg_catalog",
		"SELECT set_config('work_mem', '77MB', false)",
		"BEGIN",
		"START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
		"PREPARE p AS SELECT 1",
		"CREATE TEMP TABLE tmp (x int)",
		"SELECT pg_advisory_lock(42)",
		"LISTEN chan",
		"SET TimeZone = 'Asia/Tokyo'",
		"SET DateStyle = 'German'",
		"SET statement_timeout = 0; SET work_mem = '77MB'; BEGIN",
	} {
		// Every connection of the tenant's pool gets the same request, so the next checks hit a used one.
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = env.Platform.SQL(context.Background(), env.Account.ID, cp.Slug, q)
			}()
		}
		wg.Wait()
		for range 4 {
			res := mustSQL(t, env, cp.Slug, `SELECT current_setting('statement_timeout') AS st, current_setting('work_mem') AS wm,
				current_setting('search_path') AS sp, current_setting('TimeZone') AS tz,
				(SELECT count(*) FROM pg_prepared_statements) AS prepared, (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks,
				(SELECT count(*) FROM pg_listening_channels()) AS listening, to_regclass('pg_temp.tmp') IS NULL AS no_temp,
				'2024-01-02'::date AS d`)
			var rows []map[string]any
			json.Unmarshal(res.Rows, &rows)
			r := rows[0]
			if r["st"] != "1min" || r["wm"] == "77MB" || r["sp"] != "public" || r["tz"] != "UTC" ||
				r["prepared"] != 0.0 || r["locks"] != 0.0 || r["listening"] != 0.0 || r["no_temp"] != true || r["d"] != "2024-01-02" {
				t.Fatalf("after %q the next request saw %s", q, res.Rows)
			}
		}
		// A write after it is committed, not held in a transaction the request left open.
		mustSQL(t, env, cp.Slug, "INSERT INTO h VALUES (1)")
		var n int
		if err := admin.QueryRow(context.Background(), "SELECT count(*) FROM h").Scan(&n); err != nil || n != want {
			t.Fatalf("after %q: %d committed rows (%v), want %d", q, n, err, want)
		}
		want++
	}
	// SET TRANSACTION READ WRITE cannot undo the read-only transaction of a tenant over quota: tested in TestSQLQuota.
}

// TestSQLTimeout: the platform's deadline cancels the query on the server,
// even when the tenant turned statement_timeout off, persistently.
func TestSQLTimeout(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Plans = mosaic.DefaultPlans()
		p := c.Plans["free"]
		p.SQLTimeout = time.Second
		c.Plans["free"] = p
	}))
	cp := env.Project(t)
	mustSQL(t, env, cp.Slug, "ALTER ROLE CURRENT_USER SET statement_timeout = 0")
	status, m, body := postSQL(t, env, env.APIKey, cp.Slug, sqlBody("SET statement_timeout = 0; SELECT pg_sleep(600)"))
	if status != 400 || m["error"] != "query_timeout" {
		t.Fatalf("pg_sleep(600): %d %s", status, body)
	}
	status, m, body = postSQL(t, env, env.APIKey, cp.Slug, sqlBody("SELECT pg_sleep($1)", 600))
	if status != 400 || m["error"] != "query_timeout" {
		t.Fatalf("pg_sleep($1): %d %s", status, body)
	}
	status, m, body = postSQL(t, env, env.APIKey, cp.Slug, sqlBody("DO $$BEGIN LOOP END LOOP; END$$"))
	if status != 400 || m["error"] != "query_timeout" {
		t.Fatalf("endless loop: %d %s", status, body)
	}
	// On the server, none of them is still running.
	admin := adminConn(t, env.DatabaseURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active'`, cp.Credentials.Database).Scan(&n); err != nil {
			t.Fatalf("the query is still running on the server after the timeout (waited for it to end): %v", err)
		}
		if n == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And the tenant works normally afterwards.
	if res := mustSQL(t, env, cp.Slug, "SELECT 1 AS one"); string(res.Rows) != `[{"one":1}]` {
		t.Errorf("after timeouts: %s", res.Rows)
	}
}

// TestSQLCaps: a result over the row or byte cap is a 413, the query is
// cancelled on the server, and a cancelled write is not kept.
func TestSQLCaps(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.SQLMaxRows = 100
		c.SQLMaxBytes = 64 << 10
	}))
	cp := env.Project(t)
	for _, q := range []string{
		"SELECT generate_series(1, 100000000) AS g",
		"SELECT a.oid FROM pg_class a, pg_class b, pg_class c",
		"SELECT repeat('x', 1000000) AS big",
		"SELECT repeat('x', 1000) FROM generate_series(1, 99)",
	} {
		status, m, body := postSQL(t, env, env.APIKey, cp.Slug, sqlBody(q))
		if status != 413 || m["error"] != "result_too_large" {
			t.Errorf("%s: %d %.300s", q, status, body)
		}
	}
	if res := mustSQL(t, env, cp.Slug, "SELECT * FROM generate_series(1, 100) g"); res.RowCount != 100 {
		t.Errorf("exactly the cap: %d rows", res.RowCount)
	}
	mustSQL(t, env, cp.Slug, "CREATE TABLE w (x int)")
	status, _, body := postSQL(t, env, env.APIKey, cp.Slug, sqlBody("INSERT INTO w SELECT generate_series(1, 1000) RETURNING x"))
	if status != 413 {
		t.Fatalf("big INSERT RETURNING: %d %s", status, body)
	}
	res := mustSQL(t, env, cp.Slug, "SELECT count(*) AS n FROM w")
	var n []struct{ N int }
	json.Unmarshal(res.Rows, &n)
	if n[0].N != 0 && n[0].N != 1000 {
		t.Errorf("a cancelled INSERT left %d rows", n[0].N)
	}
	if n[0].N == 1000 && !strings.Contains(body, "completed") {
		t.Errorf("the INSERT was kept but the error says otherwise: %s", body)
	}
}

// TestSQLQuota: over the plan's size limit, writes are 402 and reads work;
// usage reports the size against the limit; the hourly query quota is 429.
func TestSQLQuota(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Plans = mosaic.DefaultPlans()
		c.Plans["tiny"] = mosaic.Plan{Name: "tiny", DatabaseBytes: 1 << 20, SQLQueriesPerHour: 1000, DBConnections: 5, DBTempFileLimit: "10MB"}
		c.Plans["few"] = mosaic.Plan{Name: "few", DatabaseBytes: 1 << 30, SQLQueriesPerHour: 3, DBConnections: 5, DBTempFileLimit: "10MB"}
	}))
	cp := env.Project(t, func(n *mosaic.NewProject) { n.Plan = "tiny" })
	// The table is made directly with the tenant's credentials (the API refuses writes already).
	if out, err := psql(t, cp.Credentials.URL(), "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept')"); err != nil {
		t.Fatalf("psql: %v %s", err, out)
	}
	ctx := context.Background()
	u, err := env.Client.DatabaseUsage(ctx, cp.Slug)
	if err != nil || u.Plan != "tiny" || u.LimitBytes != 1<<20 || u.SizeBytes <= u.LimitBytes || u.UsagePercent <= 100 {
		t.Fatalf("usage = %+v, %v", u, err)
	}
	for _, q := range []string{
		"INSERT INTO notes VALUES ('more')",
		"CREATE TABLE more (x int)",
		"WITH d AS (DELETE FROM notes RETURNING *) SELECT * FROM d",
		"CREATE TABLE x (y int); INSERT INTO x VALUES (1)",
	} {
		status, m, body := postSQL(t, env, env.APIKey, cp.Slug, sqlBody(q))
		if status != 402 || m["error"] != "database_full" {
			t.Errorf("%s over quota: %d %s", q, status, body)
		}
	}
	status, m, body := postSQL(t, env, env.APIKey, cp.Slug, sqlBody("SET TRANSACTION READ WRITE"))
	if status != 400 || m["code"] != "25001" {
		t.Errorf("SET TRANSACTION READ WRITE over quota: %d %s", status, body)
	}
	if res := mustSQL(t, env, cp.Slug, "SELECT body FROM notes"); string(res.Rows) != `[{"body":"kept"}]` {
		t.Errorf("read over quota: %s", res.Rows)
	}
	if res := mustSQL(t, env, cp.Slug, "SELECT body FROM notes WHERE body = $1", "kept"); res.RowCount != 1 {
		t.Errorf("read with params over quota: %s", res.Rows)
	}

	few := env.Project(t, func(n *mosaic.NewProject) { n.Plan = "few" })
	for i := range 4 {
		_, err := env.Platform.SQL(ctx, env.Account.ID, few.Slug, "SELECT 1")
		if i < 3 && err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		var e *errs.Error
		if i == 3 && (!errors.As(err, &e) || e.Kind != errs.RateLimited || e.RetryAfter <= 0) {
			t.Fatalf("4th query of 3 per hour: %v", err)
		}
	}
	status, _, _ = postSQL(t, env, env.APIKey, few.Slug, sqlBody("SELECT 1"))
	if status != 429 {
		t.Errorf("over the hourly quota over HTTP: %d", status)
	}
}

// TestSQLBrokenConnections: killed connections do not break the next query,
// and a deleted project's pool goes away with it.
func TestSQLBrokenConnections(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	cp := env.Project(t)
	ctx := context.Background()
	admin := adminConn(t, env.DatabaseURL)
	for round := range 3 {
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); mustSQL(t, env, cp.Slug, "SELECT 1") }()
		}
		wg.Wait()
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, cp.Credentials.Database); err != nil {
			t.Fatal(err)
		}
		for i := range 8 {
			if _, err := env.Platform.SQL(ctx, env.Account.ID, cp.Slug, "SELECT $1::int AS n", i); err != nil {
				t.Fatalf("round %d, query %d after the backends were killed: %v", round, i, err)
			}
		}
	}
	if err := env.Platform.DeleteProject(ctx, env.Account.ID, cp.Slug); err != nil {
		t.Fatal(err)
	}
	_, err := env.Platform.SQL(ctx, env.Account.ID, cp.Slug, "SELECT 1")
	if !errors.Is(err, mosaic.ErrNotFound) {
		t.Fatalf("SQL on a deleted project: %v", err)
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, cp.Credentials.User).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d connections of the deleted tenant remain (%v)", n, err)
	}
	_ = pgx.ErrNoRows
	_ = client.SQLRequest{}
}
