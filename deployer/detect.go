package deployer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mosaic-platform/mosaic/errs"
)

// DefaultPort is the port an app listens on inside a container when the
// runtime does not choose one (the Dockerfile's ENV PORT and EXPOSE). The
// runtime always sets PORT; apps must read it.
const DefaultPort = 8080

// StaticStart is the start command of a static site: busybox's web server on
// $PORT, serving /srv. The process runtime serves a static site itself (see
// package process) and runs no command.
const StaticStart = "busybox httpd -f -p $PORT -h /srv"

// lookedFor are the files Detect recognises, in precedence order, for the
// error that names them.
var lookedFor = []string{"go.mod", "Cargo.toml", "requirements.txt", "pyproject.toml", "package.json", "index.html"}

// maxManifest bounds the manifests Detect reads (package.json, Procfile...).
const maxManifest = 1 << 20

// Detect decides how to build and start the source tree in src, whose root
// is the repository's root. It is a pure function of the tree.
//
// Precedence: go.mod → Go; Cargo.toml → Rust; requirements.txt or
// pyproject.toml → Python; package.json → Node; index.html → static. A
// Procfile "web:" line overrides the start command of every stack.
//
//   - Go: CGO_ENABLED=0 go build of the root package (or of the first
//     cmd/<name> with Go files), started as .mosaic/app.
//   - Rust: cargo build --release; started as target/release/<bin>, the
//     first [[bin]] name or else the package name.
//   - Python: a virtualenv in .venv with the requirements (or the project,
//     for pyproject.toml); started with gunicorn when Flask is declared,
//     uvicorn when FastAPI is, else python main.py (or app.py).
//   - Node: npm install when there are dependencies (npm run build when
//     scripts.build exists); started with npm start when scripts.start
//     exists, else node <main>, else node index.js.
//   - Static: served as files (see StaticStart).
//
// Every app gets PORT in its environment. A tree with none of the files is
// an errs.Invalid error ("unknown_stack") whose text names the files looked for.
func Detect(src fs.FS) (Plan, error) {
	var p Plan
	has := func(name string) bool {
		st, err := fs.Stat(src, name)
		ok := err == nil && st.Mode().IsRegular()
		if ok && !containsStr(p.Files, name) {
			p.Files = append(p.Files, name)
		}
		return ok
	}
	var err error
	switch {
	case has("go.mod"):
		err = detectGo(src, &p, has)
	case has("Cargo.toml"):
		err = detectRust(src, &p)
	case has("requirements.txt"), has("pyproject.toml"):
		has("requirements.txt")
		has("pyproject.toml")
		err = detectPython(src, &p, has)
	case has("package.json"):
		err = detectNode(src, &p, has)
	case has("index.html"):
		p.Stack, p.Start = StackStatic, StaticStart
	default:
		return Plan{}, errs.New(errs.Invalid, "unknown_stack",
			"no supported stack found: looked for %s at the repository's root (Go, Rust, Python, Node, static site)", strings.Join(lookedFor, ", "))
	}
	if err != nil {
		return Plan{}, err
	}
	if has("Procfile") {
		b, err := readSmall(src, "Procfile")
		if err != nil {
			return Plan{}, err
		}
		if web := procfileWeb(b); web != "" {
			p.Start, p.Procfile = web, true
		}
	}
	if p.Start == "" {
		return Plan{}, errs.New(errs.Invalid, "no_start_command", "the %s app has no start command; add a Procfile with a \"web:\" line", p.Stack)
	}
	return p, nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func readSmall(src fs.FS, name string) ([]byte, error) {
	f, err := src.Open(name)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "unreadable_manifest", "%s cannot be read", name)
	}
	defer f.Close()
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "unreadable_manifest", "%s cannot be read", name)
	}
	if n > maxManifest {
		return nil, errs.New(errs.Invalid, "manifest_too_large", "%s is larger than %d bytes", name, maxManifest)
	}
	return buf.Bytes(), nil
}

// procfileWeb returns the command of the Procfile's "web:" line, or "".
func procfileWeb(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, cmd, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(name) == "web" {
			return strings.TrimSpace(cmd)
		}
	}
	return ""
}

func detectGo(src fs.FS, p *Plan, has func(string) bool) error {
	p.Stack, p.Binary = StackGo, ".mosaic/app"
	pkg := ""
	if goFiles(src, ".") {
		pkg = "."
	} else if entries, err := fs.ReadDir(src, "cmd"); err == nil {
		for _, e := range entries { // ReadDir sorts by name
			if e.IsDir() && goFiles(src, "cmd/"+e.Name()) {
				pkg = "./cmd/" + e.Name()
				break
			}
		}
	}
	if pkg == "" {
		return errs.New(errs.Invalid, "no_main_package", "go.mod found, but there are no .go files at the root or in a cmd/<name> directory")
	}
	p.Build = []string{`CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o .mosaic/app ` + pkg}
	p.Start = "./.mosaic/app"
	// Modules with requirements have a go.sum; a vendor directory needs
	// no download. go mod download may fail where the module graph needs
	// the tree (a replace by a local directory): go build, after the copy
	// of the whole tree, then does the work and reports any real error.
	if has("go.sum") && !isFile(src, "vendor/modules.txt") {
		p.Install = "go mod download || true"
		p.InstallFrom = []string{"go.mod", "go.sum"}
	}
	return nil
}

// goStd compiles the standard library as goBuild does.
const goStd = "CGO_ENABLED=0 go build -trimpath std"

func isFile(src fs.FS, name string) bool {
	st, err := fs.Stat(src, name)
	return err == nil && st.Mode().IsRegular()
}

func goFiles(src fs.FS, dir string) bool {
	m, _ := fs.Glob(src, path.Join(dir, "*.go"))
	for _, f := range m {
		if !strings.HasSuffix(f, "_test.go") {
			return true
		}
	}
	return false
}

var (
	tomlSection = regexp.MustCompile(`^\s*\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*$`)
	tomlName    = regexp.MustCompile(`^\s*name\s*=\s*"([A-Za-z0-9_-]+)"\s*$`)
)

func detectRust(src fs.FS, p *Plan) error {
	p.Stack = StackRust
	b, err := readSmall(src, "Cargo.toml")
	if err != nil {
		return err
	}
	var pkgName, binName, section string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if m := tomlSection.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		if m := tomlName.FindStringSubmatch(line); m != nil {
			switch {
			case section == "package" && pkgName == "":
				pkgName = m[1]
			case section == "bin" && binName == "":
				binName = m[1]
			}
		}
	}
	if binName == "" {
		binName = pkgName
	}
	if binName == "" {
		return errs.New(errs.Invalid, "no_binary", `Cargo.toml names no package ([package] name = "...") and no [[bin]]`)
	}
	p.Binary = "target/release/" + binName
	p.Build = []string{"cargo build --release"}
	p.Start = "./" + p.Binary
	return nil
}

func detectPython(src fs.FS, p *Plan, has func(string) bool) error {
	p.Stack = StackPython
	p.Env = map[string]string{"PYTHONUNBUFFERED": "1"}
	var deps, req string // lower-cased manifests, to spot frameworks
	install := ""
	if has("requirements.txt") {
		b, err := readSmall(src, "requirements.txt")
		if err != nil {
			return err
		}
		req = strings.ToLower(string(b))
		deps += req + "\n"
		install = "-r requirements.txt"
	}
	if has("pyproject.toml") {
		b, err := readSmall(src, "pyproject.toml")
		if err != nil {
			return err
		}
		deps += strings.ToLower(string(b)) + "\n"
		if install == "" {
			install = "."
		}
	}
	module := ""
	for _, f := range []string{"main.py", "app.py"} {
		if has(f) {
			module = strings.TrimSuffix(f, ".py")
			break
		}
	}
	declares := func(pkg string) bool {
		re := regexp.MustCompile(`(?m)(^|["'\s])` + regexp.QuoteMeta(pkg) + `($|[\s\[<>=!~;,"'])`)
		return re.MatchString(deps)
	}
	server := ""
	switch {
	case declares("fastapi"):
		server = "uvicorn"
		if module != "" {
			p.Start = ".venv/bin/uvicorn " + module + ":app --host 0.0.0.0 --port $PORT"
		}
	case declares("flask"):
		server = "gunicorn"
		if module != "" {
			p.Start = ".venv/bin/gunicorn --bind 0.0.0.0:$PORT " + module + ":app"
		}
	default:
		if module != "" {
			p.Start = ".venv/bin/python " + module + ".py"
		}
	}
	cmd := "python3 -m venv .venv && .venv/bin/pip install --no-cache-dir " + install
	if server != "" && !declares(server) {
		cmd += " " + server
	}
	p.Build = []string{cmd}
	if install == "-r requirements.txt" && requirementsAlone(req) {
		p.Install, p.InstallFrom = cmd, []string{"requirements.txt"}
	}
	return nil
}

// requirementsAlone reports whether a requirements file (lower-cased)
// names only packages: no options (-e, -r, -c...), no local paths.
func requirementsAlone(req string) bool {
	for _, line := range strings.Split(req, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "-") || strings.HasPrefix(line, ".") || strings.HasPrefix(line, "/") ||
			strings.HasPrefix(line, "~") || strings.Contains(line, "file:") {
			return false
		}
	}
	return true
}

type packageJSON struct {
	Main                 string            `json:"main"`
	Scripts              map[string]string `json:"scripts"`
	Dependencies         map[string]string `json:"dependencies"`
	DevDependencies      map[string]string `json:"devDependencies"`
	OptionalDependencies map[string]string `json:"optionalDependencies"`
	Workspaces           json.RawMessage   `json:"workspaces"`
}

// installAlone reports whether npm install needs nothing but package.json
// and the lock file: no lifecycle script of the package itself runs
// during the install, no workspaces, no dependency on a local path.
func (pj packageJSON) installAlone() bool {
	for _, s := range []string{"preinstall", "install", "postinstall", "prepublish", "preprepare", "prepare", "postprepare"} {
		if pj.Scripts[s] != "" {
			return false
		}
	}
	if len(pj.Workspaces) > 0 && string(pj.Workspaces) != "null" {
		return false
	}
	for _, deps := range []map[string]string{pj.Dependencies, pj.DevDependencies, pj.OptionalDependencies} {
		for _, v := range deps {
			if v = strings.TrimSpace(v); strings.HasPrefix(v, "file:") || strings.HasPrefix(v, "link:") ||
				strings.HasPrefix(v, "workspace:") || strings.HasPrefix(v, ".") || strings.HasPrefix(v, "/") || strings.HasPrefix(v, "~") {
				return false
			}
		}
	}
	return true
}

func detectNode(src fs.FS, p *Plan, has func(string) bool) error {
	p.Stack = StackNode
	p.Env = map[string]string{"NODE_ENV": "production"}
	b, err := readSmall(src, "package.json")
	if err != nil {
		return err
	}
	var pj packageJSON
	if err := json.Unmarshal(b, &pj); err != nil {
		return errs.Wrap(errs.Invalid, err, "invalid_package_json", "package.json is not valid JSON: %v", err)
	}
	// NODE_ENV=production (set for the build too, in a Dockerfile) would
	// leave out the devDependencies a build script needs: --include=dev.
	switch {
	case pj.Scripts["build"] != "":
		p.Build = []string{"npm install --include=dev --no-audit --no-fund", "npm run build"}
	case len(pj.Dependencies) > 0:
		p.Build = []string{"npm install --omit=dev --no-audit --no-fund"}
	}
	if len(p.Build) > 0 && pj.installAlone() {
		p.Install, p.InstallFrom = p.Build[0], []string{"package.json"}
		for _, lock := range []string{"package-lock.json", "npm-shrinkwrap.json"} {
			if has(lock) {
				p.InstallFrom = append(p.InstallFrom, lock)
			}
		}
	}
	switch {
	case pj.Scripts["start"] != "":
		p.Start = "npm start"
	case pj.Main != "":
		p.Start = "node " + shellQuote(pj.Main)
	default:
		has("index.js")
		p.Start = "node index.js"
	}
	return nil
}

// shellQuote quotes s for sh when it is not a plain word.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// execForm splits a command into the words of a Dockerfile exec-form
// instruction when it uses no shell syntax.
func execForm(cmd string) ([]string, bool) {
	if strings.ContainsAny(cmd, "$&|;<>()`\\\"'*?~{}[]#!\n") {
		return nil, false
	}
	w := strings.Fields(cmd)
	return w, len(w) > 0
}

func jsonList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Dockerfile returns the Dockerfile that builds p's app FROM the images in
// im. The build context is the source tree. Go builds a static binary
// (CGO_ENABLED=0) in im.GoBuilder and runs it FROM scratch; Rust builds in
// im.RustBuilder and runs on im.Runtime; Node and Python build and run in
// their image; a static site is served by busybox httpd from im.Static.
//
// The instructions are ordered for the build cache: everything that does
// not depend on the source (WORKDIR, the environment with PORT defaulting
// to DefaultPort — the runtime sets the real one —, EXPOSE, the command)
// comes first, then the dependency step from the manifests alone
// (p.Install, from p.InstallFrom), and only then the copy of the source
// and the build. A redeploy rebuilds from the copy of the source on; a
// redeploy with the same manifests reuses the installed dependencies. The
// environment (p.Env) is therefore set for the build steps too.
func Dockerfile(p Plan, im Images) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Generated by Mosaic for a %s app (%s).", p.Stack, strings.Join(p.Files, ", "))
	env := func() {
		keys := make([]string, 0, len(p.Env))
		for k := range p.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w("ENV %s=%s", k, strconv.Quote(p.Env[k]))
		}
		w("ENV PORT=%d", DefaultPort)
		w("EXPOSE %d", DefaultPort)
	}
	// install copies the manifests and runs the dependency step.
	install := func() {
		if p.Install == "" || len(p.InstallFrom) == 0 {
			return
		}
		w("COPY %s ./", strings.Join(p.InstallFrom, " "))
		w("RUN %s", p.Install)
	}
	// run runs the build commands that install did not.
	run := func() {
		for i, c := range p.Build {
			if i == 0 && c == p.Install && len(p.InstallFrom) > 0 {
				continue
			}
			w("RUN %s", c)
		}
	}
	switch p.Stack {
	case StackGo:
		w("FROM %s AS build", im.GoBuilder)
		w("WORKDIR /src")
		// The standard library for the build's flags, in a layer the next
		// builds take from the cache. go marks the cache entries it uses by
		// setting their mtime once an hour, which would copy every entry
		// into each build's layer: a far-future mtime spares them that.
		// Entries that have one already (scripts/setup-docker's golang
		// image ships its prebuilt std so) are left alone, so that this
		// layer holds only what the base image lacked.
		w("RUN %s && find \"$(go env GOCACHE)\" -type f ! -newermt 2099-01-01 -exec touch -d 2100-01-01 {} +", goStd)
		install()
		w("COPY . .")
		run()
		w("")
		w("FROM scratch")
		w("WORKDIR /srv")
		env()
		// scratch has no shell: the command runs in exec form.
		if words, ok := execForm(p.Start); ok && p.Procfile {
			w("ENTRYPOINT %s", jsonList(words))
		} else {
			if p.Procfile {
				w("# The Procfile's web command needs a shell, which scratch lacks: the binary runs directly.")
			}
			w("ENTRYPOINT %s", jsonList([]string{"/srv/" + p.Binary}))
		}
		// /src is the source and the binary: one step copies both.
		w("COPY --from=build /src /srv")
	case StackRust:
		w("FROM %s AS build", im.RustBuilder)
		w("WORKDIR /src")
		install()
		w("COPY . .")
		run()
		w("")
		w("FROM %s", im.Runtime)
		w("WORKDIR /srv")
		env()
		w("CMD %s", p.Start)
		w("COPY . .")
		w("COPY --from=build /src/%s /srv/%s", p.Binary, p.Binary)
	case StackPython, StackNode:
		base := im.Python
		if p.Stack == StackNode {
			base = im.Node
		}
		w("FROM %s", base)
		w("WORKDIR /srv")
		env()
		w("CMD %s", p.Start)
		install()
		w("COPY . .")
		run()
	case StackStatic:
		w("FROM %s", im.Static)
		w("WORKDIR /srv")
		env()
		w("CMD %s", p.Start)
		w("COPY . /srv")
	}
	return b.String()
}
