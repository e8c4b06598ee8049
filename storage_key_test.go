package mosaic

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestStorageKeyLayout: checkName's one-allocation key is the tenant
// layout's areaPrefix + name, spelt out, for random ids.
func TestStorageKeyLayout(t *testing.T) {
	t.Parallel()
	for range 1000 {
		id := uuid.New()
		if got := string(appendUUID(nil, id)); got != id.String() {
			t.Fatalf("appendUUID %s, want %s", got, id)
		}
		for _, area := range []string{areaFiles, areaSite} {
			for _, name := range []string{"a.txt", "dir/b c.json", strings.Repeat("x", 300)} {
				key, err := checkName(id, area, name)
				if err != nil {
					t.Fatal(err)
				}
				if want := areaPrefix(id, area) + name; key != want {
					t.Fatalf("checkName %q, want %q", key, want)
				}
				if want := "projects/" + id.String() + "/" + area + "/" + name; key != want {
					t.Fatalf("checkName %q, want the layout's %q", key, want)
				}
			}
		}
	}
	if _, err := checkName(uuid.New(), areaFiles, strings.Repeat("x", 1100)); err == nil {
		t.Fatal("a key over storage.MaxKeyBytes was accepted")
	}
}
