package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/httpapi"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// fetchOpenAPI gets GET /openapi.json without a key, as a tool would.
func fetchOpenAPI(t *testing.T, env *mosaictest.Env) ([]byte, map[string]any) {
	t.Helper()
	resp, err := env.Server.Client().Get(env.BaseURL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET /openapi.json: Content-Type %q", ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("GET /openapi.json is not JSON: %v", err)
	}
	return b, doc
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIPath is the OpenAPI template of a ServeMux path: {path...} is {path}, {$} is dropped.
func openAPIPath(p string) string {
	p = strings.ReplaceAll(p, "...}", "}")
	return strings.TrimSuffix(p, "{$}")
}

// TestOpenAPIDocumentMatchesRoutes: the served document is valid OpenAPI
// 3.1 and has exactly the operations of the mounted route table.
func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	raw, doc := fetchOpenAPI(t, env)
	validateOpenAPI(t, doc)

	mine, err := env.Handler.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(raw), bytes.TrimSpace(mine)) {
		t.Error("GET /openapi.json differs from Handler.OpenAPI()")
	}
	viaClient, err := env.Client.OpenAPI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(viaClient), bytes.TrimSpace(raw)) {
		t.Error("client.OpenAPI differs from GET /openapi.json")
	}
	if s := doc["servers"].([]any)[0].(map[string]any)["url"]; s != env.BaseURL {
		t.Errorf("servers[0].url = %v, want %s", s, env.BaseURL)
	}

	routes := map[string]httpapi.Route{}
	for _, rt := range env.Handler.Routes() {
		routes[strings.ToLower(rt.Method)+" "+openAPIPath(rt.Path)] = rt
	}
	documented := map[string]map[string]any{}
	for p, item := range doc["paths"].(map[string]any) {
		for m, op := range item.(map[string]any) {
			documented[m+" "+p] = op.(map[string]any)
		}
	}
	for k := range routes {
		if documented[k] == nil {
			t.Errorf("route %s is mounted but not in the document", k)
		}
	}
	for k := range documented {
		if _, ok := routes[k]; !ok {
			t.Errorf("operation %s is in the document but not mounted", k)
		}
	}
	if _, ok := routes["get /openapi.json"]; !ok {
		t.Error("GET /openapi.json is not in the route table")
	}
	for k, rt := range routes {
		op := documented[k]
		if op == nil {
			continue
		}
		sec, _ := op["security"].([]any)
		if secured := len(sec) > 0; secured != rt.Auth {
			t.Errorf("%s: security in the document is %v, route Auth is %v", k, secured, rt.Auth)
		}
		if op["description"] != rt.Description {
			t.Errorf("%s: description %q, want %q", k, op["description"], rt.Description)
		}
		if _, hasBody := op["requestBody"]; hasBody != (rt.In != nil) {
			t.Errorf("%s: requestBody documented = %v, route In = %v", k, hasBody, rt.In)
		}
		status := rt.Status
		if status == 0 {
			status = http.StatusOK
		}
		if _, ok := op["responses"].(map[string]any)[strconv.Itoa(status)]; !ok {
			t.Errorf("%s: no %d response in the document", k, status)
		}
	}

	// Spot checks of the schemas the reflection made.
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	if got := schemaAt(t, doc, "post /projects", "requestBody"); got["$ref"] != "#/components/schemas/CreateProjectRequest" {
		t.Errorf("POST /projects request schema = %v", got)
	}
	cp := schemas["CreateProjectRequest"].(map[string]any)
	if req := fmt.Sprint(cp["required"]); req != "[name]" {
		t.Errorf("CreateProjectRequest required = %s, want [name] (slug and plan are omitempty)", req)
	}
	kw := schemas["KeyJSON"].(map[string]any)["properties"].(map[string]any)
	if got := fmt.Sprint(kw["created_at"]); got != "map[format:date-time type:string]" {
		t.Errorf("KeyJSON.created_at = %s", got)
	}
	if got := fmt.Sprint(kw["last_used_at"]); got != "map[format:date-time type:[string null]]" {
		t.Errorf("KeyJSON.last_used_at = %s", got)
	}
	if got := fmt.Sprint(kw["id"]); got != "map[format:uuid type:string]" {
		t.Errorf("KeyJSON.id = %s", got)
	}
	if got := schemaAt(t, doc, "get /tickets/{id}", "200"); got["$ref"] != "#/components/schemas/mosaic.Ticket" {
		t.Errorf("GET /tickets/{id} schema = %v", got)
	}
	if got := schemaAt(t, doc, "get /{slug}/setup", "200"); got["type"] != "string" {
		t.Errorf("GET /{slug}/setup schema = %v", got)
	}
	errSchema := schemas["ErrorBody"].(map[string]any)
	if got := fmt.Sprint(errSchema["required"]); got != "[detail error]" {
		t.Errorf("ErrorBody required = %s", got)
	}
	if rb := documented["post /{slug}/redis/keys"]["requestBody"].(map[string]any); rb["required"] != false {
		t.Errorf("POST /{slug}/redis/keys body should be optional: %v", rb)
	}
}

// TestOpenAPIEveryRouteHasABodyType: every route of the table says what it
// answers (Route.Out: a JSON type, a RawBody, or Status 204 for no body),
// so that the reference documents every response.
func TestOpenAPIEveryRouteHasABodyType(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	for _, rt := range env.Handler.Routes() {
		if rt.Out == nil && rt.Status != http.StatusNoContent {
			t.Errorf("%s %s has no Out: set Out (its response body's Go type, e.g. Out: FileList{}), In for a request body, and Status when it is not 200, on its Route literal", rt.Method, rt.Path)
		}
	}
}

// schemaAt returns the JSON schema of an operation's request body ("requestBody")
// or response (a status code).
func schemaAt(t *testing.T, doc map[string]any, op, which string) map[string]any {
	t.Helper()
	m, p, _ := strings.Cut(op, " ")
	o := doc["paths"].(map[string]any)[p].(map[string]any)[m].(map[string]any)
	var content map[string]any
	if which == "requestBody" {
		content = o["requestBody"].(map[string]any)["content"].(map[string]any)
	} else {
		content = o["responses"].(map[string]any)[which].(map[string]any)["content"].(map[string]any)
	}
	for _, c := range content {
		return c.(map[string]any)["schema"].(map[string]any)
	}
	t.Fatalf("%s %s: no content", op, which)
	return nil
}

// TestOpenAPIPathsAnswer: every documented operation reaches a handler of
// the real server: nothing answers the router's route_not_found 404 or 405.
func TestOpenAPIPathsAnswer(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	_, doc := fetchOpenAPI(t, env)
	// Another account, so that POST /keys/rotate does not touch env's key.
	_, key, _ := env.NewAccount(t)
	values := map[string]string{"slug": "no-such-project-" + strings.ToLower(t.Name()[:4]), "id": "1", "path": "dir/file.txt"}
	var n int
	for p, item := range doc["paths"].(map[string]any) {
		for m, op := range item.(map[string]any) {
			u := regexp.MustCompile(`\{([^}]+)\}`).ReplaceAllStringFunc(p, func(s string) string {
				if v, ok := values[s[1:len(s)-1]]; ok {
					return v
				}
				return "x"
			})
			var body io.Reader
			if _, ok := op.(map[string]any)["requestBody"]; ok {
				body = strings.NewReader("{}")
			}
			req, err := http.NewRequest(strings.ToUpper(m), env.BaseURL+u, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-API-Key", key)
			resp, err := env.Server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e httpapi.ErrorBody
			_ = json.Unmarshal(b, &e)
			if resp.StatusCode == http.StatusMethodNotAllowed || (resp.StatusCode == http.StatusNotFound && e.Error == "route_not_found") {
				t.Errorf("%s %s (%s %s): %d %s", strings.ToUpper(m), p, req.Method, u, resp.StatusCode, b)
			}
			n++
		}
	}
	if n < len(env.Handler.Routes()) {
		t.Errorf("walked %d operations, the table has %d routes", n, len(env.Handler.Routes()))
	}
	// And the control: a path that is not in the table is the router's 404.
	resp, err := env.Server.Client().Get(env.BaseURL + "/no/such/route/here")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "route_not_found") {
		t.Errorf("unknown path: %d %s", resp.StatusCode, b)
	}
}

// TestOpenAPIValidator validates the document with real OpenAPI 3.1
// validators on node: @apidevtools/swagger-parser (the document against
// the OpenAPI 3.1 JSON Schema) and @redocly/openapi-core's "recommended"
// rules (declared path parameters, unique operationIds, resolvable
// references, security on every operation...; its warnings are logged,
// its errors fail). It skips without node, and installs the two packages
// once into $MOSAIC_CACHE_DIR/node (default ~/.cache/mosaic/node),
// skipping when npm cannot.
func TestOpenAPIValidator(t *testing.T) {
	t.Parallel()
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the structural checks of TestOpenAPIDocumentMatchesRoutes still ran")
	}
	dir := nodeModulesDir(t)
	env := mosaictest.New(t)
	raw, _ := fetchOpenAPI(t, env)
	file := filepath.Join(t.TempDir(), "openapi.json")
	validate := func(doc []byte) (string, error) {
		if err := os.WriteFile(file, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, nodeBin, "-e", validatorScript, file)
		cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := validate(raw)
	if err != nil {
		t.Fatalf("the validators reject the document: %v\n%s", err, out)
	}
	t.Logf("validators:\n%s", out)

	// The control: they do reject a broken document.
	var broken map[string]any
	if err := json.Unmarshal(raw, &broken); err != nil {
		t.Fatal(err)
	}
	broken["paths"].(map[string]any)["/{slug}/info"].(map[string]any)["get"].(map[string]any)["parameters"] = []any{}
	b, _ := json.Marshal(broken)
	if out, err := validate(b); err == nil || !strings.Contains(out, "path-parameters-defined") {
		t.Errorf("the validators accept a path parameter that is not declared: %v\n%s", err, out)
	}
	delete(broken, "info")
	b, _ = json.Marshal(broken)
	if out, err := validate(b); err == nil || !strings.Contains(out, "swagger-parser:") {
		t.Errorf("swagger-parser accepts a document without info: %v\n%s", err, out)
	}
}

const validatorScript = `
const file = process.argv[1];
const SwaggerParser = require("@apidevtools/swagger-parser");
const { lintFromString, createConfig } = require("@redocly/openapi-core");
(async () => {
  let failed = false;
  try {
    const api = await SwaggerParser.validate(file);
    console.log("swagger-parser: valid OpenAPI " + api.openapi + ", " + Object.keys(api.paths).length + " paths");
  } catch (e) {
    console.log("swagger-parser: " + e.message);
    failed = true;
  }
  const config = await createConfig({ extends: ["recommended"] });
  const source = require("fs").readFileSync(file, "utf8");
  const problems = await lintFromString({ source, absoluteRef: file, config });
  const count = { error: 0, warn: 0 };
  for (const p of problems) {
    count[p.severity] = (count[p.severity] || 0) + 1;
    const at = p.location && p.location[0] ? p.location[0].pointer : "";
    console.log("redocly " + p.severity + " " + p.ruleId + ": " + p.message + " " + at);
  }
  console.log("redocly: " + count.error + " errors, " + count.warn + " warnings");
  if (count.error > 0) failed = true;
  process.exit(failed ? 1 : 0);
})().catch(e => { console.log(e.stack || String(e)); process.exit(2); });
`

var nodePackages = []string{"@apidevtools/swagger-parser@10", "@redocly/openapi-core@1"}

func nodeModulesDir(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("MOSAIC_CACHE_DIR")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Skip("no MOSAIC_CACHE_DIR and no home directory for the validators' cache")
		}
		cache = filepath.Join(home, ".cache", "mosaic")
	}
	dir := filepath.Join(cache, "node")
	var missing []string
	for _, p := range nodePackages {
		name := p[:strings.LastIndex(p, "@")]
		if _, err := os.Stat(filepath.Join(dir, "node_modules", name, "package.json")); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return dir
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("%v are not installed in %s and npm is not on PATH", missing, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Skipf("cannot make %s: %v", dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"install", "--prefix", dir, "--no-audit", "--no-fund"}, missing...)
	if out, err := exec.CommandContext(ctx, npm, args...).CombinedOutput(); err != nil {
		t.Skipf("npm could not install %v into %s: %v\n%s", missing, dir, err, out)
	}
	return dir
}

// validateOpenAPI checks the structure OpenAPI 3.1 requires of the document.
func validateOpenAPI(t *testing.T, doc map[string]any) {
	t.Helper()
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if s, _ := info["title"].(string); s == "" {
		t.Error("info.title is missing")
	}
	if s, _ := info["version"].(string); s == "" {
		t.Error("info.version is missing")
	}
	comps, _ := doc["components"].(map[string]any)
	schemes, _ := comps["securitySchemes"].(map[string]any)
	for name, s := range comps["schemas"].(map[string]any) {
		if !regexp.MustCompile(`^[a-zA-Z0-9._-]+$`).MatchString(name) {
			t.Errorf("component name %q is not allowed", name)
		}
		if s == nil {
			t.Errorf("component %s has no schema", name)
		}
	}
	paths, ok := doc["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatal("paths is missing")
	}
	ids := map[string]string{}
	param := regexp.MustCompile(`\{([^{}]+)\}`)
	status := regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]XX|default)$`)
	for p, it := range paths {
		if !strings.HasPrefix(p, "/") {
			t.Errorf("path %q does not start with /", p)
		}
		var inPath []string
		for _, m := range param.FindAllStringSubmatch(p, -1) {
			inPath = append(inPath, m[1])
		}
		sort.Strings(inPath)
		item := it.(map[string]any)
		for m, o := range item {
			where := m + " " + p
			if !contains(httpMethods, m) {
				t.Errorf("%s: %q is not an HTTP method", p, m)
				continue
			}
			op := o.(map[string]any)
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := ids[id]; dup {
				t.Errorf("operationId %s is used by %s and %s", id, prev, where)
			}
			ids[id] = where
			var declared []string
			ps, _ := op["parameters"].([]any)
			for _, x := range ps {
				pm := x.(map[string]any)
				if pm["in"] != "path" {
					continue
				}
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v is not required", where, pm["name"])
				}
				if pm["schema"] == nil {
					t.Errorf("%s: path parameter %v has no schema", where, pm["name"])
				}
				declared = append(declared, pm["name"].(string))
			}
			sort.Strings(declared)
			if !reflect.DeepEqual(declared, inPath) && !(len(declared) == 0 && len(inPath) == 0) {
				t.Errorf("%s: path parameters declared %v, in the template %v", where, declared, inPath)
			}
			resps, _ := op["responses"].(map[string]any)
			if len(resps) == 0 {
				t.Errorf("%s: no responses", where)
			}
			for code, r := range resps {
				if !status.MatchString(code) {
					t.Errorf("%s: response key %q", where, code)
				}
				rm := r.(map[string]any)
				if _, ref := rm["$ref"]; !ref && rm["description"] == nil {
					t.Errorf("%s %s: response without description", where, code)
				}
			}
			if _, ok := resps["4XX"]; !ok {
				t.Errorf("%s: the error responses are not documented", where)
			}
			if rb, ok := op["requestBody"].(map[string]any); ok {
				if c, _ := rb["content"].(map[string]any); len(c) == 0 {
					t.Errorf("%s: requestBody without content", where)
				}
			}
			sec, _ := op["security"].([]any)
			for _, req := range sec {
				for name := range req.(map[string]any) {
					if schemes[name] == nil {
						t.Errorf("%s: security scheme %q is not defined", where, name)
					}
				}
			}
		}
	}
	// Every $ref resolves.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "$ref" {
					ref, _ := x.(string)
					if err := resolve(doc, ref); err != nil {
						t.Errorf("%s: $ref %q: %v", at, ref, err)
					}
					continue
				}
				walk(x, at+"/"+k)
			}
		case []any:
			for i, x := range v {
				walk(x, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")
}

func resolve(doc map[string]any, ref string) error {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return errors.New("not a local reference")
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return fmt.Errorf("%q is not an object", tok)
		}
		if cur, ok = m[tok]; !ok || cur == nil {
			return fmt.Errorf("%q does not exist", tok)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Types for TestOpenAPIGenerator.
type (
	oaNode struct {
		Name     string    `json:"name"`
		Children []*oaNode `json:"children,omitempty"`
	}
	oaBase struct {
		ID      uuid.UUID `json:"id"`
		Created time.Time `json:"created"`
	}
	oaThing struct {
		oaBase
		Name    string          `json:"name"`
		Note    *string         `json:"note"`
		Tags    []string        `json:"tags,omitempty"`
		Meta    map[string]int  `json:"meta"`
		Raw     json.RawMessage `json:"raw"`
		Any     any             `json:"any"`
		Bytes   []byte          `json:"bytes"`
		Count   int64           `json:"count,string"`
		Ratio   float64         `json:"ratio,omitzero"`
		Tree    oaNode          `json:"tree"`
		Inline  struct{ A int } `json:"inline"`
		Hidden  string          `json:"-"`
		private string
		Default bool              // no tag: its Go name
		Fixed   [2]uint8          `json:"fixed"`
		Route   client.Route      `json:"route"`
		Mine    httpapi.Route     `json:"mine"`
		Headers map[string]*int64 `json:"headers"`
	}
)

// TestOpenAPIGenerator: the reflection follows encoding/json, and paths
// with wildcards become templates with their parameters.
func TestOpenAPIGenerator(t *testing.T) {
	t.Parallel()
	routes := []httpapi.Route{
		{Method: "PUT", Path: "/{slug}/storage/{bucket}/{path...}", Auth: true, Description: "Upload an object: the body is its bytes",
			In: httpapi.RawBody{ContentType: "application/octet-stream"}, Out: oaThing{}, Status: http.StatusCreated},
		{Method: "GET", Path: "/{slug}/storage/{bucket}/{path...}", Auth: true, Description: "Download an object",
			Out: httpapi.RawBody{ContentType: "application/octet-stream"}},
		{Method: "POST", Path: "/{slug}/things", Auth: true, Description: "Make a thing: {...}", In: httpapi.OptionalBody(&oaThing{}), Out: []oaThing{}},
		{Method: "DELETE", Path: "/{slug}/things/{id}", Auth: true, Description: "Remove a thing", Status: http.StatusNoContent},
		{Method: "GET", Path: "/items/{$}", Description: "Items", Out: map[string]oaNode{}},
	}
	doc, err := httpapi.BuildOpenAPI(routes, "http://example.test/v1/project")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	validateOpenAPI(t, m)
	paths := m["paths"].(map[string]any)
	var got []string
	for p := range paths {
		got = append(got, p)
	}
	sort.Strings(got)
	if want := []string{"/items/", "/{slug}/storage/{bucket}/{path}", "/{slug}/things", "/{slug}/things/{id}"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("paths %v, want %v", got, want)
	}
	put := paths["/{slug}/storage/{bucket}/{path}"].(map[string]any)["put"].(map[string]any)
	if len(put["parameters"].([]any)) != 3 {
		t.Errorf("PUT parameters: %v", put["parameters"])
	}
	if _, ok := put["requestBody"].(map[string]any)["content"].(map[string]any)["application/octet-stream"]; !ok {
		t.Errorf("PUT body: %v", put["requestBody"])
	}
	if _, ok := put["responses"].(map[string]any)["201"]; !ok {
		t.Errorf("PUT responses: %v", put["responses"])
	}
	if put["summary"] != "Upload an object" || put["operationId"] != "putSlugStorageBucketPath" || put["tags"].([]any)[0] != "storage" {
		t.Errorf("PUT summary %v, operationId %v, tags %v", put["summary"], put["operationId"], put["tags"])
	}
	if sec := paths["/items/"].(map[string]any)["get"].(map[string]any)["security"].([]any); len(sec) != 0 {
		t.Errorf("a route without Auth has security %v", sec)
	}
	post := paths["/{slug}/things"].(map[string]any)["post"].(map[string]any)
	if post["requestBody"].(map[string]any)["required"] != false {
		t.Error("OptionalBody is required")
	}
	if got := fmt.Sprint(schemaAt(t, m, "post /{slug}/things", "requestBody")); got != "map[$ref:#/components/schemas/httpapi_test.oaThing]" {
		t.Errorf("a pointer body = %s, want the struct (a body is never null)", got)
	}
	if got := fmt.Sprint(schemaAt(t, m, "post /{slug}/things", "200")); got != "map[items:map[$ref:#/components/schemas/httpapi_test.oaThing] type:array]" {
		t.Errorf("a slice body = %s", got)
	}
	del := paths["/{slug}/things/{id}"].(map[string]any)["delete"].(map[string]any)
	if r := del["responses"].(map[string]any)["204"].(map[string]any); r["content"] != nil {
		t.Errorf("204: %v", r)
	}

	schemas := m["components"].(map[string]any)["schemas"].(map[string]any)
	thing := schemas["httpapi_test.oaThing"].(map[string]any)
	props := thing["properties"].(map[string]any)
	want := map[string]string{
		"id":      "map[format:uuid type:string]",
		"created": "map[format:date-time type:string]",
		"name":    "map[type:string]",
		"note":    "map[type:[string null]]",
		"tags":    "map[items:map[type:string] type:[array null]]",
		"meta":    "map[additionalProperties:map[format:int64 type:integer] type:[object null]]",
		"raw":     "map[]",
		"any":     "map[]",
		"bytes":   "map[contentEncoding:base64 type:[string null]]",
		"count":   "map[type:string]",
		"ratio":   "map[format:double type:number]",
		"tree":    "map[$ref:#/components/schemas/httpapi_test.oaNode]",
		"inline":  "map[properties:map[A:map[format:int64 type:integer]] required:[A] type:object]",
		"Default": "map[type:boolean]",
		"fixed":   "map[items:map[minimum:0 type:integer] maxItems:2 minItems:2 type:array]",
		"route":   "map[$ref:#/components/schemas/client.Route]",
		"mine":    "map[$ref:#/components/schemas/Route]",
		"headers": "map[additionalProperties:map[format:int64 type:[integer null]] type:[object null]]",
	}
	for k, w := range want {
		if g := fmt.Sprint(props[k]); g != w {
			t.Errorf("oaThing.%s = %s, want %s", k, g, w)
		}
	}
	for k := range props {
		if _, ok := want[k]; !ok {
			t.Errorf("oaThing has member %q, which encoding/json does not write", k)
		}
	}
	if got := fmt.Sprint(thing["required"]); got != "[Default any bytes count created fixed headers id inline meta mine name note raw route tree]" {
		t.Errorf("oaThing required = %s", got)
	}
	node := schemas["httpapi_test.oaNode"].(map[string]any)["properties"].(map[string]any)
	if got := fmt.Sprint(node["children"]); got != "map[items:map[anyOf:[map[$ref:#/components/schemas/httpapi_test.oaNode] map[type:null]]] type:[array null]]" {
		t.Errorf("recursive oaNode.children = %s", got)
	}
	if got := fmt.Sprint(schemas["Route"].(map[string]any)["required"]); got != "[auth description method path]" {
		t.Errorf("Route required = %s (In, Out, Status, MaxBody are json:\"-\")", got)
	}

	// Tables the generator refuses.
	for _, bad := range [][]httpapi.Route{
		{{Method: "GET", Path: "no-slash"}},
		{{Method: "GET", Path: "/{rest...}/more"}},
		{{Method: "GET", Path: "/a{b}"}},
		{{Method: "FETCH", Path: "/a"}},
		{{Method: "GET", Path: "/{a...}"}, {Method: "GET", Path: "/{a}"}},
		{{Method: "GET", Path: "/a", Out: make(chan int)}},
		{{Method: "GET", Path: "/a", Out: httpapi.RawBody{}}},
	} {
		if _, err := httpapi.BuildOpenAPI(bad, ""); err == nil {
			t.Errorf("BuildOpenAPI(%v) accepted it", bad)
		}
	}
}
