package deployer_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/errs"
)

var update = flag.Bool("update", false, "rewrite the golden Dockerfiles in testdata/detect")

// TestDetectDeploy runs Detect over the fixture trees in testdata/detect and
// compares the generated Dockerfiles (with the default and the local images)
// with the golden files next to them.
func TestDetectDeploy(t *testing.T) {
	cases := []struct {
		dir      string
		stack    deployer.Stack
		build    []string
		start    string
		procfile bool
		files    []string
		// install and installFrom: the dependency step that runs before
		// the copy of the source (none when install is "").
		install     string
		installFrom []string
	}{
		{dir: "go", stack: deployer.StackGo, build: []string{`CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o .mosaic/app .`}, start: "./.mosaic/app", files: []string{"go.mod"}},
		{dir: "go-deps", stack: deployer.StackGo, files: []string{"go.mod", "go.sum"},
			install: "go mod download || true", installFrom: []string{"go.mod", "go.sum"}},
		{dir: "go-cmd", stack: deployer.StackGo, build: []string{`CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o .mosaic/app ./cmd/server`}, start: "./.mosaic/app"},
		{dir: "go-procfile", stack: deployer.StackGo, start: "./.mosaic/app -http", procfile: true, files: []string{"go.mod", "Procfile"}},
		{dir: "rust", stack: deployer.StackRust, build: []string{"cargo build --release"}, start: "./target/release/hello-rs"},
		{dir: "rust-bin", stack: deployer.StackRust, start: "./target/release/server"},
		{dir: "python-flask", stack: deployer.StackPython,
			build: []string{"python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt gunicorn"},
			start: ".venv/bin/gunicorn --bind 0.0.0.0:$PORT app:app", files: []string{"requirements.txt", "app.py"},
			install: "python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt gunicorn", installFrom: []string{"requirements.txt"}},
		{dir: "python-editable", stack: deployer.StackPython, start: ".venv/bin/gunicorn --bind 0.0.0.0:$PORT app:app"},
		{dir: "python-fastapi", stack: deployer.StackPython,
			build: []string{"python3 -m venv .venv && .venv/bin/pip install --no-cache-dir ."},
			start: ".venv/bin/uvicorn main:app --host 0.0.0.0 --port $PORT"},
		{dir: "python-plain", stack: deployer.StackPython, start: ".venv/bin/python main.py",
			install: "python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt", installFrom: []string{"requirements.txt"}},
		{dir: "node-start", stack: deployer.StackNode, build: []string{"npm install --omit=dev --no-audit --no-fund"}, start: "npm start", files: []string{"package.json"},
			install: "npm install --omit=dev --no-audit --no-fund", installFrom: []string{"package.json"}},
		{dir: "node-lock", stack: deployer.StackNode, build: []string{"npm install --omit=dev --no-audit --no-fund"}, start: "node server.js",
			install: "npm install --omit=dev --no-audit --no-fund", installFrom: []string{"package.json", "package-lock.json"}},
		{dir: "node-postinstall", stack: deployer.StackNode, build: []string{"npm install --omit=dev --no-audit --no-fund"}, start: "npm start"},
		{dir: "node-main", stack: deployer.StackNode, build: []string{}, start: "node src/app.js"},
		{dir: "node-index", stack: deployer.StackNode, build: []string{}, start: "node index.js", files: []string{"package.json", "index.js"}},
		{dir: "node-build", stack: deployer.StackNode, build: []string{"npm install --include=dev --no-audit --no-fund", "npm run build"}, start: "npm start",
			install: "npm install --include=dev --no-audit --no-fund", installFrom: []string{"package.json"}},
		{dir: "node-procfile", stack: deployer.StackNode, start: "node --max-old-space-size=256 other.js", procfile: true},
		{dir: "static", stack: deployer.StackStatic, build: []string{}, start: deployer.StaticStart, files: []string{"index.html"}},
		{dir: "precedence-go", stack: deployer.StackGo},
		{dir: "precedence-python", stack: deployer.StackPython, start: ".venv/bin/python main.py",
			install: "python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt", installFrom: []string{"requirements.txt"}},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", "detect", tc.dir)
			p, err := deployer.Detect(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			if p.Stack != tc.stack {
				t.Fatalf("stack %q, want %q", p.Stack, tc.stack)
			}
			if tc.build != nil && !reflect.DeepEqual(append([]string{}, p.Build...), tc.build) {
				t.Errorf("build %q, want %q", p.Build, tc.build)
			}
			if tc.start != "" && p.Start != tc.start {
				t.Errorf("start %q, want %q", p.Start, tc.start)
			}
			if p.Procfile != tc.procfile {
				t.Errorf("procfile %v, want %v", p.Procfile, tc.procfile)
			}
			if tc.files != nil && !reflect.DeepEqual(p.Files, tc.files) {
				t.Errorf("files %q, want %q", p.Files, tc.files)
			}
			if p.Install != tc.install || !reflect.DeepEqual(p.InstallFrom, tc.installFrom) {
				t.Errorf("install %q from %q, want %q from %q", p.Install, p.InstallFrom, tc.install, tc.installFrom)
			}
			for name, im := range map[string]deployer.Images{"default": deployer.DefaultImages(), "local": deployer.LocalImages()} {
				got := deployer.Dockerfile(p, im)
				golden := filepath.Join("testdata", "detect", tc.dir+"."+name+".Dockerfile")
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -run TestDetectDeploy -update to write it)", err)
				}
				if got != string(want) {
					t.Errorf("%s images: Dockerfile differs from %s:\n--- got\n%s--- want\n%s", name, golden, got, want)
				}
			}
		})
	}
}

func TestDetectDeployDockerfileShapes(t *testing.T) {
	p, err := deployer.Detect(os.DirFS("testdata/detect/go"))
	if err != nil {
		t.Fatal(err)
	}
	df := deployer.Dockerfile(p, deployer.LocalImages())
	for _, want := range []string{"FROM mosaic-local/golang:1.26 AS build", "CGO_ENABLED=0 go build", "FROM scratch", `ENTRYPOINT ["/srv/.mosaic/app"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Go Dockerfile lacks %q:\n%s", want, df)
		}
	}
	p, _ = deployer.Detect(os.DirFS("testdata/detect/static"))
	if df := deployer.Dockerfile(p, deployer.DefaultImages()); !strings.Contains(df, "FROM busybox:stable") || !strings.Contains(df, "CMD busybox httpd -f -p $PORT -h /srv") {
		t.Errorf("static Dockerfile:\n%s", df)
	}
}

func TestDetectDeployErrors(t *testing.T) {
	for _, tc := range []struct {
		dir, code, says string
	}{
		{"unknown", "unknown_stack", "go.mod, Cargo.toml, requirements.txt, pyproject.toml, package.json, index.html"},
		{"node-bad-json", "invalid_package_json", "package.json"},
		{"go-no-main", "no_main_package", "cmd/<name>"},
	} {
		_, err := deployer.Detect(os.DirFS(filepath.Join("testdata", "detect", tc.dir)))
		var e *errs.Error
		if !errors.As(err, &e) || e.Kind != errs.Invalid || e.Code != tc.code || !strings.Contains(e.Detail, tc.says) {
			t.Errorf("%s: %v, want invalid %s saying %q", tc.dir, err, tc.code, tc.says)
		}
	}
	// Python without an entry point and without a Procfile.
	_, err := deployer.Detect(fstest.MapFS{"requirements.txt": {Data: []byte("flask\n")}})
	if !errors.Is(err, errs.ErrInvalid) || !strings.Contains(err.Error(), "Procfile") {
		t.Errorf("python without main.py: %v", err)
	}
	// A Procfile rescues it.
	p, err := deployer.Detect(fstest.MapFS{"requirements.txt": {Data: []byte("flask\n")}, "Procfile": {Data: []byte("web: .venv/bin/gunicorn wsgi:app\n")}})
	if err != nil || p.Start != ".venv/bin/gunicorn wsgi:app" {
		t.Errorf("python with a Procfile: %+v %v", p, err)
	}
	// A directory named like a manifest is not one.
	if _, err := deployer.Detect(fstest.MapFS{"go.mod/x": {Data: []byte("x")}}); !errors.Is(err, errs.ErrInvalid) {
		t.Errorf("go.mod as a directory: %v", err)
	}
}

// FuzzDetect: Detect never panics on any package.json, Procfile or Cargo.toml.
func FuzzDetect(f *testing.F) {
	f.Add("package.json", []byte(`{"scripts":{"start":"x"}}`))
	f.Add("Procfile", []byte("web: x\n"))
	f.Add("Cargo.toml", []byte("[package]\nname = \"a\"\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		if name != "package.json" && name != "Procfile" && name != "Cargo.toml" {
			return
		}
		m := fstest.MapFS{name: {Data: data}, "index.html": {Data: []byte("x")}}
		if p, err := deployer.Detect(m); err == nil {
			_ = deployer.Dockerfile(p, deployer.DefaultImages())
		}
	})
}
