package httpapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// The OpenAPI reference is generated from the route table, the same slice
// the handler mounts: each Route's Method, Path, Description and Auth, and
// the Go types of its bodies (Route.In, Route.Out), read by reflection.
//
// A route documents its bodies with zero values of the Go types its handler
// decodes and writes:
//
//	{Method: "POST", Path: "/{slug}/sql", Auth: true, In: SQLRequest{}, Out: SQLResult{}, ...}
//	{Method: "POST", Path: "/projects", Auth: true, In: CreateProjectRequest{}, Out: ProjectCreated{}, Status: http.StatusCreated, ...}
//	{Method: "POST", Path: "/{slug}/redis/keys", Auth: true, In: OptionalBody(KVKeysRequest{}), Out: KVKeys{}, ...}
//	{Method: "GET", Path: "/{slug}/setup", Auth: true, Out: RawBody{ContentType: "text/markdown"}, ...}
//
// The schemas follow encoding/json: json tags name the members, a member
// with omitempty or omitzero is optional and the others are required,
// pointers, slices and maps may be null, time.Time is a date-time string,
// uuid.UUID a uuid string, json.RawMessage and interfaces are any JSON
// value, []byte is a base64 string, other encoding.TextMarshaler types are
// strings. Named struct types become components: httpapi's types by their
// name, other packages' types as "package.Name" (mosaic.Ticket).

// OptionalBody marks a route's request body as optional (Route.In): the
// route also accepts an empty body.
func OptionalBody(v any) any { return optionalBody{v} }

type optionalBody struct{ v any }

// RawBody documents a body that is not JSON (Route.In or Route.Out), such
// as RawBody{ContentType: "text/markdown"} or an object's bytes with
// "application/octet-stream".
type RawBody struct{ ContentType string }

// OpenAPI returns the API's OpenAPI 3.1 document as JSON (also served at
// GET /openapi.json under the prefix), generated from the route table.
func (h *Handler) OpenAPI() ([]byte, error) {
	doc, err := buildOpenAPI(h.routes, h.p.PublicURL()+h.opts.Prefix)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "  ")
}

func (h *Handler) serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	b, err := h.OpenAPI()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(append(b, '\n'))
	return err
}

// securityScheme is the name of the X-API-Key scheme in the document.
const securityScheme = "apiKey"

// buildOpenAPI makes the document of routes, served from serverURL.
func buildOpenAPI(routes []Route, serverURL string) (map[string]any, error) {
	g := newSchemas()
	errorRef := g.body(reflect.TypeOf(ErrorBody{}))
	paths := map[string]any{}
	seen := map[string]Route{}
	for _, rt := range routes {
		p, params, err := openAPIPath(rt.Path)
		if err != nil {
			return nil, err
		}
		method := strings.ToLower(rt.Method)
		switch method {
		case "get", "put", "post", "delete", "options", "head", "patch", "trace":
		default:
			return nil, fmt.Errorf("openapi: route %s %s: OpenAPI has no method %q", rt.Method, rt.Path, rt.Method)
		}
		key := method + " " + p
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("openapi: routes %s %s and %s %s are the same OpenAPI operation", prev.Method, prev.Path, rt.Method, rt.Path)
		}
		seen[key] = rt
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		op, err := g.operation(rt, p, params)
		if err != nil {
			return nil, err
		}
		item[method] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "Mosaic platform API",
			"version": "1",
			"description": "Databases, object storage, key-value, auth and deployments for your projects. " +
				"Send your API key in the X-API-Key header. Errors are JSON: {\"detail\": a sentence, \"error\": a machine code}. " +
				"GET / lists the routes; this document is generated from the same route table the server mounts.",
		},
		"servers": []any{map[string]any{"url": serverURL}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": g.defs,
			"responses": map[string]any{
				"Error": map[string]any{
					"description": `An error: {"detail": a human sentence, "error": a machine code}; some errors add members (the SQLSTATE of a SQL error, the limit of a quota...)`,
					"content":     map[string]any{"application/json": map[string]any{"schema": errorRef}},
				},
			},
			"securitySchemes": map[string]any{
				securityScheme: map[string]any{
					"type":        "apiKey",
					"in":          "header",
					"name":        "X-API-Key",
					"description": "Your account's API key (mk_...). Never put it in a URL.",
				},
			},
		},
	}
	if len(g.errs) > 0 {
		return nil, fmt.Errorf("openapi: %s", strings.Join(g.errs, "; "))
	}
	return doc, nil
}

type pathParam struct {
	name     string
	wildcard bool
}

// openAPIPath turns a ServeMux pattern path ("/{slug}/files/{path...}",
// "/a/{$}") into an OpenAPI path template ("/{slug}/files/{path}", "/a/")
// and its parameters.
func openAPIPath(p string) (string, []pathParam, error) {
	if !strings.HasPrefix(p, "/") {
		return "", nil, fmt.Errorf("openapi: route path %q does not start with /", p)
	}
	segs := strings.Split(p[1:], "/")
	var params []pathParam
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") {
			if strings.ContainsAny(s, "{}") {
				return "", nil, fmt.Errorf("openapi: route path %q: a wildcard must be a whole segment", p)
			}
			continue
		}
		if !strings.HasSuffix(s, "}") {
			return "", nil, fmt.Errorf("openapi: route path %q: bad segment %q", p, s)
		}
		name := s[1 : len(s)-1]
		if name == "$" {
			if i != len(segs)-1 {
				return "", nil, fmt.Errorf("openapi: route path %q: {$} must end the path", p)
			}
			segs[i] = ""
			continue
		}
		pp := pathParam{name: name}
		if n, ok := strings.CutSuffix(name, "..."); ok {
			if i != len(segs)-1 {
				return "", nil, fmt.Errorf("openapi: route path %q: {%s} must end the path", p, name)
			}
			pp = pathParam{name: n, wildcard: true}
		}
		if pp.name == "" {
			return "", nil, fmt.Errorf("openapi: route path %q: a wildcard needs a name", p)
		}
		segs[i] = "{" + pp.name + "}"
		params = append(params, pp)
	}
	return "/" + strings.Join(segs, "/"), params, nil
}

var paramDocs = map[string]string{
	"slug": "The project's slug",
	"path": "The rest of the path: an object key or a file path, which may contain '/'",
}

func (g *schemas) operation(rt Route, p string, params []pathParam) (map[string]any, error) {
	op := map[string]any{
		"operationId": operationID(rt.Method, p),
		"summary":     summary(rt.Description),
		"description": rt.Description,
		"tags":        []string{tag(p)},
	}
	if len(params) > 0 {
		ps := make([]any, 0, len(params))
		for _, pp := range params {
			desc := paramDocs[pp.name]
			if pp.wildcard && desc == "" {
				desc = "The rest of the path, which may contain '/'"
			}
			param := map[string]any{"name": pp.name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}}
			if desc != "" {
				param["description"] = desc
			}
			ps = append(ps, param)
		}
		op["parameters"] = ps
	}
	if rt.Auth {
		op["security"] = []any{map[string]any{securityScheme: []string{}}}
	} else {
		op["security"] = []any{} // public: no key
	}
	if rt.In != nil {
		in, required := rt.In, true
		if o, ok := in.(optionalBody); ok {
			in, required = o.v, false
		}
		content, err := g.content(in)
		if err != nil {
			return nil, fmt.Errorf("route %s %s: request body: %w", rt.Method, rt.Path, err)
		}
		op["requestBody"] = map[string]any{"required": required, "content": content}
	}
	status := rt.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 599 || http.StatusText(status) == "" {
		return nil, fmt.Errorf("openapi: route %s %s: bad status %d", rt.Method, rt.Path, status)
	}
	ok := map[string]any{"description": http.StatusText(status)}
	if rt.Out != nil {
		if _, opt := rt.Out.(optionalBody); opt {
			return nil, fmt.Errorf("openapi: route %s %s: OptionalBody is for request bodies", rt.Method, rt.Path)
		}
		content, err := g.content(rt.Out)
		if err != nil {
			return nil, fmt.Errorf("route %s %s: response body: %w", rt.Method, rt.Path, err)
		}
		ok["content"] = content
	}
	errRef := map[string]any{"$ref": "#/components/responses/Error"}
	op["responses"] = map[string]any{strconv.Itoa(status): ok, "4XX": errRef, "5XX": errRef}
	return op, nil
}

func (g *schemas) content(v any) (map[string]any, error) {
	if rb, ok := v.(RawBody); ok {
		if rb.ContentType == "" {
			return nil, fmt.Errorf("RawBody needs a ContentType")
		}
		s := map[string]any{"type": "string"}
		if !strings.HasPrefix(rb.ContentType, "text/") {
			s["contentMediaType"] = rb.ContentType
		}
		return map[string]any{rb.ContentType: map[string]any{"schema": s}}, nil
	}
	return map[string]any{"application/json": map[string]any{"schema": g.body(reflect.TypeOf(v))}}, nil
}

// operationID makes a unique, readable id from the method and the path:
// GET /{slug}/redis/usage is getSlugRedisUsage, GET / is getRoot.
func operationID(method, p string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	upper := true
	for _, r := range p {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if upper {
				r = unicode.ToUpper(r)
			}
			b.WriteRune(r)
			upper = false
		} else {
			upper = true
		}
	}
	if b.Len() == len(method) {
		b.WriteString("Root")
	}
	return b.String()
}

// summary is the description up to its first colon, arrow or parenthesis:
// "Store a string: {...}" gives "Store a string".
func summary(desc string) string {
	s := desc
	for _, sep := range []string{": ", " → ", " (", "; "} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	return strings.TrimSpace(s)
}

// tag groups operations: the capability word after the slug (sql, redis,
// storage...), or the first word of an account route (projects, tickets).
func tag(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) > 0 && strings.HasPrefix(segs[0], "{") {
		if len(segs) < 2 || strings.HasPrefix(segs[1], "{") || segs[1] == "info" || segs[1] == "credentials" || segs[1] == "setup" {
			return "projects"
		}
		return segs[1]
	}
	switch segs[0] {
	case "":
		return "discovery"
	case "whoami", "keys":
		return "account"
	case "openapi.json":
		return "discovery"
	}
	return segs[0]
}

// schemas turns Go types into JSON Schemas (OpenAPI 3.1 uses JSON Schema
// 2020-12), collecting named structs as components.
type schemas struct {
	defs  map[string]any
	names map[reflect.Type]string
	taken map[string]reflect.Type
	errs  []string
}

func newSchemas() *schemas {
	return &schemas{defs: map[string]any{}, names: map[reflect.Type]string{}, taken: map[string]reflect.Type{}}
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	uuidType       = reflect.TypeFor[uuid.UUID]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	marshalerType  = reflect.TypeFor[json.Marshaler]()
	textMarshaler  = reflect.TypeFor[encoding.TextMarshaler]()
	thisPackage    = reflect.TypeFor[Route]().PkgPath()
	componentName  = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
)

// body is the schema of a whole body: never null, so pointers are followed.
func (g *schemas) body(t reflect.Type) map[string]any {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return map[string]any{}
	}
	s := g.schema(t)
	if ty, ok := s["type"].([]string); ok && len(ty) == 2 && ty[1] == "null" {
		s["type"] = ty[0] // a slice or map body is never null
	}
	return s
}

func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || reflect.PointerTo(t).Implements(iface)
}

func (g *schemas) schema(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case uuidType:
		return map[string]any{"type": "string", "format": "uuid"}
	case rawMessageType:
		return map[string]any{} // any JSON value
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.schema(t.Elem()))
	case reflect.Interface:
		return map[string]any{}
	}
	if implements(t, marshalerType) && t.Kind() != reflect.Struct {
		return map[string]any{} // its own encoding: any JSON value
	}
	if !implements(t, marshalerType) && implements(t, textMarshaler) {
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32:
		return map[string]any{"type": "number", "format": "float"}
	case reflect.Float64:
		return map[string]any{"type": "number", "format": "double"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !implements(t.Elem(), marshalerType) && !implements(t.Elem(), textMarshaler) {
			return nullable(map[string]any{"type": "string", "contentEncoding": "base64"})
		}
		return nullable(map[string]any{"type": "array", "items": g.schema(t.Elem())})
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return nullable(map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())})
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + g.component(t)}
	}
	g.errs = append(g.errs, fmt.Sprintf("type %s cannot be encoded as JSON", t))
	return map[string]any{}
}

// component registers a named struct type and returns its component name.
func (g *schemas) component(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	name := sanitizeName(t.Name())
	if t.PkgPath() != thisPackage {
		name = path.Base(t.PkgPath()) + "." + name
	}
	if other, ok := g.taken[name]; ok && other != t {
		name = sanitizeName(strings.ReplaceAll(t.PkgPath(), "/", ".") + "." + t.Name())
	}
	g.names[t], g.taken[name] = name, t
	g.defs[name] = nil // placeholder: a recursive type refers to itself
	g.defs[name] = g.structSchema(t)
	return name
}

func sanitizeName(s string) string {
	if componentName.MatchString(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_') {
			return r
		}
		return '_'
	}, s)
}

func (g *schemas) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required, map[reflect.Type]bool{})
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	return s
}

// fields adds t's JSON members to props, as encoding/json sees them: the
// struct's own fields first, then those promoted from embedded structs
// (a shallower member hides a deeper one of the same name).
func (g *schemas) fields(t reflect.Type, props map[string]any, required *[]string, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tagv := f.Tag.Get("json")
		if tagv == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tagv, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := props[name]; dup {
			continue
		}
		s := g.schema(f.Type)
		if hasOpt(opts, "string") {
			switch f.Type.Kind() {
			case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
				s = map[string]any{"type": "string"}
			}
		}
		props[name] = s
		if !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
	for _, et := range embedded {
		g.fields(et, props, required, visiting)
	}
}

func hasOpt(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// nullable lets a schema also be null (encoding/json writes a nil pointer,
// slice or map as null).
func nullable(s map[string]any) map[string]any {
	if len(s) == 0 {
		return s // any value, null included
	}
	switch ty := s["type"].(type) {
	case string:
		c := make(map[string]any, len(s))
		for k, v := range s {
			c[k] = v
		}
		c["type"] = []string{ty, "null"}
		return c
	case []string:
		return s
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}
