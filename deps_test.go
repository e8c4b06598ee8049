package mosaic_test

import (
	"os/exec"
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
