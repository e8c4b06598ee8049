package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/mosaic-platform/mosaic/gitpush"
	"github.com/mosaic-platform/mosaic/httpapi"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestHostileInputNever5xx sends every route of the table, on a real
// project, the inputs a careless or hostile client sends: bodies that are
// not JSON, are truncated, hold two values, are of the wrong shape; every
// member of the route's request type with a value of the wrong type, one
// at a time; every member at once with path traversal and control
// characters, with extreme numbers, with long strings, with empty values;
// malformed path parameters and query strings. No answer may be a 5xx
// other than 503 (a capability this platform does not run), and every
// error must be the JSON {"detail", "error"} body.
func TestHostileInputNever5xx(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	cp := env.Project(t)
	// Another account's key, so that rotating or revoking keys does not
	// touch the Env's key.
	_, key, _ := env.NewAccount(t)
	_ = key
	routes := env.Handler.Routes()
	// Deleting the project last keeps the other routes on a live project.
	sort.SliceStable(routes, func(i, j int) bool {
		return !isProjectDelete(routes[i]) && isProjectDelete(routes[j])
	})
	param := regexp.MustCompile(`\{([^}]+)\}`)
	fill := func(path string, values map[string]string) string {
		return param.ReplaceAllStringFunc(path, func(s string) string {
			name := strings.TrimSuffix(s[1:len(s)-1], "...")
			if name == "$" {
				return ""
			}
			if v, ok := values[name]; ok {
				return v
			}
			return "1"
		})
	}
	good := map[string]string{"slug": cp.Slug, "path": "docs/a.txt", "key": "k1", "filename": "a.txt"}
	badValues := []map[string]string{
		{"slug": "UPPER_case", "path": "../../etc/passwd", "key": "..", "id": "not-an-id"},
		{"slug": strings.Repeat("a", 300), "path": "%2e%2e/%2e%2e/x", "key": "%00", "id": "-1"},
		{"slug": "x%00y", "path": "a%00b", "key": strings.Repeat("k", 3000), "id": "99999999999999999999999"},
		{"slug": cp.Slug, "path": strings.Repeat("d/", 700) + "x", "key": "a%0Ab", "id": "%ff"},
		{"slug": cp.Slug, "path": "dir/", "key": "%e2%80%ae", "id": "0"},
	}
	const query = "?limit=-1&prefix=%00&filename=..%2Fx&expires=abc&follow=maybe&path=%2e%2e&offset=1e99&cursor=%ff"

	var sent, fails int
	check := func(rt httpapi.Route, method, u string, body []byte, what string) {
		t.Helper()
		var r io.Reader
		if body != nil {
			r = strings.NewReader(string(body))
		}
		req, err := http.NewRequest(method, env.BaseURL+u, r)
		if err != nil {
			return // a URL no client can send
		}
		if rt.Auth {
			req.Header.Set("X-API-Key", env.APIKey)
			if strings.Contains(rt.Path, "/keys") {
				req.Header.Set("X-API-Key", key)
			}
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := env.Server.Client().Do(req)
		if err != nil {
			t.Errorf("%s %s (%s): %v", method, u, what, err)
			fails++
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		sent++
		bad := ""
		switch {
		case resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable:
			bad = "a server error"
		case resp.StatusCode >= 400 && method != http.MethodHead:
			var e httpapi.ErrorBody
			if err := json.Unmarshal(b, &e); err != nil || e.Detail == "" || e.Error == "" {
				bad = "an error that is not {\"detail\", \"error\"}"
			}
		}
		if bad != "" {
			fails++
			if fails <= 40 {
				t.Errorf("%s %s (%s, route %s %s): %s: %d %.300s", method, u, what, rt.Method, rt.Path, bad, resp.StatusCode, b)
			}
		}
	}

	for _, rt := range routes {
		method := rt.Method
		u := fill(rt.Path, good)
		takesBody := method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch || rt.In != nil
		if takesBody {
			for what, b := range hostileBodies(rt.In) {
				check(rt, method, u, b, what)
			}
		}
		var empty []byte
		if takesBody {
			empty = []byte("{}")
		}
		for i, vals := range badValues {
			if !strings.Contains(rt.Path, "{") {
				break
			}
			check(rt, method, fill(rt.Path, vals), empty, fmt.Sprintf("bad path values #%d", i))
		}
		check(rt, method, u+query, empty, "hostile query string")
	}
	if fails > 40 {
		t.Errorf("... %d failures in all", fails)
	}
	t.Logf("%d requests over %d routes", sent, len(routes))
}

func isProjectDelete(rt httpapi.Route) bool {
	return rt.Method == http.MethodDelete && strings.HasPrefix(rt.Path, "/projects/{")
}

// hostileBodies returns bad request bodies for a route whose request type
// is in (nil, a struct, httpapi.OptionalBody of one, or httpapi.RawBody),
// by what they try.
func hostileBodies(in any) map[string][]byte {
	out := map[string][]byte{
		"no body":            nil,
		"empty body":         {},
		"not JSON":           []byte("not json"),
		"a JSON array":       []byte(`[]`),
		"JSON null":          []byte(`null`),
		"a JSON string":      []byte(`"x"`),
		"truncated JSON":     []byte(`{"a":`),
		"two JSON values":    []byte(`{} {}`),
		"deeply nested JSON": []byte(strings.Repeat("[", 20000) + strings.Repeat("]", 20000)),
		"a NUL byte":         []byte("{\"a\":\"\x00\"}\x00"),
		"invalid UTF-8":      []byte("{\"a\":\"\xff\xfe\"}"),
		"a huge number":      []byte(`{"a": 1e999999}`),
		"an unknown member":  []byte(`{"no_such_member": {"x": [1, 2, 3]}}`),
		"duplicated members": []byte(`{"a": 1, "a": "2"}`),
		"a body over 2 MiB":  []byte(`{"a": "` + strings.Repeat("x", 2<<20) + `"}`),
	}
	fields := jsonFields(in)
	if len(fields) == 0 {
		return out
	}
	// One member of the wrong type at a time, so that each member's check is reached.
	for _, f := range fields {
		out["wrong type for "+f.name] = mustJSON(map[string]any{f.name: wrongValue(f.typ)})
	}
	// One member at a time, well typed but hostile, the others left out.
	for _, f := range fields {
		out["hostile "+f.name] = mustJSON(map[string]any{f.name: hostileValue(f.typ, "..\\..\\x\x00\x7f\u2028", -1)})
		out["long "+f.name] = mustJSON(map[string]any{f.name: hostileValue(f.typ, strings.Repeat("a/", 40000), 1<<53+1)})
	}
	// Every member at once, well typed but hostile.
	for i, pick := range []func(reflect.Type) any{
		func(t reflect.Type) any { return hostileValue(t, "../../etc/passwd\x00\x01\u202e;DROP TABLE x;--", -1) },
		func(t reflect.Type) any { return hostileValue(t, strings.Repeat("é", 5000), 1<<62) },
		func(t reflect.Type) any { return hostileValue(t, "", 0) },
		func(t reflect.Type) any { return hostileValue(t, " /\\ \t\n", -9223372036854775808) },
	} {
		m := map[string]any{}
		for _, f := range fields {
			m[f.name] = pick(f.typ)
		}
		out[fmt.Sprintf("hostile values #%d", i)] = mustJSON(m)
	}
	return out
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the JSON members of in's type (through OptionalBody).
func jsonFields(in any) []jsonField {
	if in == nil {
		return nil
	}
	v := reflect.ValueOf(in)
	if v.Type().Name() == "optionalBody" && v.NumField() == 1 {
		v = v.Field(0).Elem()
	}
	t := v.Type()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []jsonField
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" || !f.IsExported() && !f.Anonymous {
				continue
			}
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			out = append(out, jsonField{name, f.Type})
		}
	}
	walk(t)
	return out
}

// wrongValue is a JSON value that is not of t's JSON type.
func wrongValue(t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return 12345
	case reflect.Bool:
		return "yes"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "12"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Name() == "RawMessage" {
			return json.RawMessage(`{"raw": [1e999]}`)
		}
		return map[string]any{"not": "a list"}
	case reflect.Map, reflect.Struct:
		return []any{1, "two"}
	}
	return []any{nil, map[string]any{"deep": []any{1e300, -1e300}}}
}

// hostileValue is a value of t's JSON type made of s and n.
func hostileValue(t reflect.Type, s string, n int64) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return s
	case reflect.Bool:
		return n != 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return n
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return uint64(n) >> 1
	case reflect.Float32, reflect.Float64:
		return float64(n) * 1e10
	case reflect.Slice, reflect.Array:
		if t.Name() == "RawMessage" {
			return s
		}
		return []any{hostileValue(t.Elem(), s, n), hostileValue(t.Elem(), s, n)}
	case reflect.Map:
		return map[string]any{s: hostileValue(t.Elem(), s, n)}
	case reflect.Struct:
		if t.Name() == "Time" {
			return s
		}
		m := map[string]any{}
		for _, f := range jsonFields(reflect.New(t).Elem().Interface()) {
			m[f.name] = hostileValue(f.typ, s, n)
		}
		return m
	}
	return s
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestHostileSiteRequestsNever5xx: a project's site, by Host header, on
// both stores, with malformed paths, methods, Range, conditional and
// encoding headers, and Host names: never a 5xx, never a file outside the
// site, never a directory listing.
func TestHostileSiteRequestsNever5xx(t *testing.T) {
	stores(t, func(t *testing.T, env *mosaictest.Env) {
		slug := env.Project(t).Slug
		for name, body := range map[string]string{"index.html": "<p>home</p>", "a/b.css": "b{}", "a/index.html": "<p>a</p>"} {
			if _, err := env.Client.PutSiteFile(context.Background(), slug, name, []byte(body)); err != nil {
				t.Fatalf("put %s: %v", name, err)
			}
		}
		srv, host := sitesServer(t, env, slug)
		paths := []string{"/", "/index.html", "/a/", "/a", "/a/b.css", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
			"/a/..%2f..%2findex.html", "/%00", "/a%00.html", "/" + strings.Repeat("x/", 800), "/%ff%fe", "/.git/config",
			"/a//b.css", "/a/./b.css", "/\\..\\index.html", "/index.html?x=%00", "/index.html/", "/nosuch", "//index.html"}
		headers := []map[string]string{
			nil,
			{"Range": "bytes=abc"}, {"Range": "bytes=99999999999999999999-"}, {"Range": "bytes=5-2"}, {"Range": "bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6"},
			{"Range": "bytes=-0"}, {"If-None-Match": `"` + strings.Repeat("x", 5000)}, {"If-Modified-Since": "yesterday"},
			{"If-Range": "garbage"}, {"Accept-Encoding": "gzip;q=abc, *;q=-1, br"},
		}
		var sent int
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PROPFIND"} {
			for _, p := range paths {
				for _, h := range headers {
					req, err := http.NewRequest(method, srv.URL+"/", nil)
					if err != nil {
						t.Fatal(err)
					}
					req.URL.Opaque = p // sent as written, not cleaned by the client
					req.Host = host
					for k, v := range h {
						req.Header.Set(k, v)
					}
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Fatalf("%s %s %v: %v", method, p, h, err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					sent++
					if resp.StatusCode >= 500 {
						t.Errorf("%s %s %v: %d %.200s", method, p, h, resp.StatusCode, b)
					}
					if strings.Contains(string(b), "root:") || strings.Contains(string(b), "[core]") || strings.Contains(string(b), `<a href="`) {
						t.Errorf("%s %s %v: %d leaks a file or a listing: %.200s", method, p, h, resp.StatusCode, b)
					}
				}
			}
		}
		// Host names that are not a project's site go to the API mux, not a
		// site (the port of a site's Host is not looked at).
		for _, h := range []string{"UPPER." + env.Platform.Domain(), "a.b." + env.Platform.Domain(), "." + env.Platform.Domain(),
			"x" + slug + "." + env.Platform.Domain() + ":99999", strings.Repeat("a", 300) + "." + env.Platform.Domain()} {
			req, _ := http.NewRequest("GET", srv.URL+"/index.html", nil)
			req.Host = h
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("Host %q: %v", h, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 || strings.Contains(string(b), "<p>home</p>") {
				t.Errorf("Host %q: %d %.200s", h, resp.StatusCode, b)
			}
			sent++
		}
		t.Logf("%d requests", sent)
	})
}

// TestHostileGitRequestsNever5xx: the git smart-HTTP endpoints of a
// project with commits get malformed service names, methods, content
// types, encodings and pkt-line bodies, with and without the key: never a
// 5xx, and never a ref list without the key.
func TestHostileGitRequestsNever5xx(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	env := mosaictest.New(t)
	ctx := context.Background()
	cp := env.Project(t)
	if _, _, err := env.Platform.PushFile(ctx, env.Account.ID, cp.Slug, gitpush.File{Path: "README.md", Content: []byte("hi\n")}, false); err != nil {
		t.Fatal(err)
	}
	repo := env.Platform.GitRepoURL(cp.Slug)
	type probe struct{ method, path, ctype, enc, body string }
	var probes []probe
	for _, q := range []string{"", "?service=git-upload-pack", "?service=git-receive-pack", "?service=git-evil", "?service=", "?service=%00", "?service=git-upload-pack&service=git-receive-pack"} {
		probes = append(probes, probe{"GET", "/info/refs" + q, "", "", ""}, probe{"POST", "/info/refs" + q, "", "", "x"})
	}
	bodies := []string{"", "0000", "zzzz", "0004", "ffff" + strings.Repeat("a", 100), "0032want " + strings.Repeat("0", 40) + "\n0000",
		"0009done\n", strings.Repeat("0001", 1000), "\x00\x01\x02", strings.Repeat("x", 70000)}
	for _, svc := range []string{"git-upload-pack", "git-receive-pack", "git-evil"} {
		for _, b := range bodies {
			for _, ct := range []string{"application/x-" + svc + "-request", "text/plain", ""} {
				probes = append(probes, probe{"POST", "/" + svc, ct, "", b})
			}
			probes = append(probes, probe{"POST", "/" + svc, "application/x-" + svc + "-request", "gzip", b}, probe{"POST", "/" + svc, "application/x-" + svc + "-request", "br", b})
		}
		probes = append(probes, probe{"GET", "/" + svc, "", "", ""}, probe{"PUT", "/" + svc, "", "", "x"})
	}
	for _, p := range []string{"/HEAD", "/objects/info/packs", "/objects/00/" + strings.Repeat("0", 38), "/../../etc/passwd", "/%2e%2e/config", "/config", "/hooks/post-receive"} {
		probes = append(probes, probe{"GET", p, "", "", ""})
	}
	var sent int
	for _, key := range []string{env.APIKey, ""} {
		for _, pr := range probes {
			req, err := http.NewRequest(pr.method, repo+"/", strings.NewReader(pr.body))
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = strings.TrimPrefix(req.URL.Path, "") + strings.TrimPrefix(pr.path, "/")
			if i := strings.IndexByte(req.URL.Opaque, '?'); i >= 0 {
				req.URL.RawQuery, req.URL.Opaque = req.URL.Opaque[i+1:], req.URL.Opaque[:i]
			}
			// Probes share keep-alive connections on purpose: one whose
			// body git left unread must close its connection, or the next
			// probe on it fails (TestRPCUnreadBodyClosesConnection).
			if key != "" {
				req.SetBasicAuth("x", key)
			}
			if pr.ctype != "" {
				req.Header.Set("Content-Type", pr.ctype)
			}
			if pr.enc != "" {
				req.Header.Set("Content-Encoding", pr.enc)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				// The server may answer (404, 401) and close before a large
				// body is sent; the client then sees the reset.
				if len(pr.body) > 64<<10 && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")) {
					continue
				}
				t.Fatalf("%s %s: %v", pr.method, pr.path, err)
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			sent++
			if resp.StatusCode >= 500 {
				t.Errorf("%s %s (%s, %s, key %v, %d-byte body): %d %.200s", pr.method, pr.path, pr.ctype, pr.enc, key != "", len(pr.body), resp.StatusCode, b)
			}
			if key == "" && resp.StatusCode < 300 && strings.Contains(string(b), "refs/heads/") {
				t.Errorf("%s %s without a key listed refs", pr.method, pr.path)
			}
		}
	}
	t.Logf("%d requests", sent)
}
