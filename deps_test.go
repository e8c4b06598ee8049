package mosaic_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProductionImportGraph: packages that programs import for production
// never pull in the test harness or testcontainers.
func TestProductionImportGraph(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	pkgs := []string{".", "./errs", "./sqlexec", "./httpapi", "./client", "./cmd/mosaic"}
	for _, pkg := range pkgs {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, "testcontainers") || strings.HasSuffix(dep, "/mosaictest") || dep == "testing" {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// TestDepsProductionPackages: the packages programs import for production
// (those that exist) link neither testcontainers-go nor a Docker client,
// testcontainers-go is imported by mosaictest only, and the Docker client
// by deployer/docker (and test support) only. The control: mosaictest's
// graph does contain testcontainers, so the check can see it.
func TestDepsProductionPackages(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	const module = "github.com/mosaic-platform/mosaic"
	isTestcontainers := func(dep string) bool { return strings.HasPrefix(dep, "github.com/testcontainers/") }
	isDockerClient := func(dep string) bool {
		return dep == "github.com/moby/moby/client" || strings.HasPrefix(dep, "github.com/moby/moby/client/") ||
			dep == "github.com/docker/docker/client" || strings.HasPrefix(dep, "github.com/docker/docker/client/")
	}
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	for _, dir := range []string{".", "./httpapi", "./client", "./sqlexec", "./kv", "./storage", "./authn", "./deployer", "./errs"} {
		if m, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(m) == 0 {
			continue // not written yet
		}
		for _, dep := range deps(dir) {
			if isTestcontainers(dep) || isDockerClient(dep) || strings.HasSuffix(dep, "/mosaictest") {
				t.Errorf("%s depends on %s", dir, dep)
			}
		}
	}
	var sawTC bool
	for _, dep := range deps("./mosaictest") {
		sawTC = sawTC || isTestcontainers(dep)
	}
	if !sawTC {
		t.Error("go list -deps ./mosaictest shows no testcontainers package: the check above cannot see it")
	}

	// Direct imports, module-wide (-e: a package another change leaves
	// broken still lists its imports).
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		for _, imp := range f[1:] {
			switch {
			case isTestcontainers(imp) && pkg != "mosaictest":
				t.Errorf("%s imports %s: only mosaictest may", f[0], imp)
			case isDockerClient(imp) && pkg != "deployer/docker" && pkg != "internal/dockertest" && pkg != "mosaictest":
				t.Errorf("%s imports %s: only deployer/docker (and test support) may", f[0], imp)
			}
		}
	}
}
