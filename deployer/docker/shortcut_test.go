package docker

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/mosaic-platform/mosaic/deployer"
)

// TestParseShortcut: which generated Dockerfiles Build makes without the
// builder, and the configuration it reads from them.
func TestParseShortcut(t *testing.T) {
	for _, tc := range []struct {
		dir   string
		short bool
	}{
		{"static", true}, {"node-index", true}, {"node-main", true}, {"node-procfile", true},
		{"node-start", false}, {"node-build", false}, {"go", false}, {"go-deps", false},
		{"python-flask", false}, {"python-plain", false}, {"rust", false},
	} {
		p, err := deployer.Detect(os.DirFS(filepath.Join("..", "testdata", "detect", tc.dir)))
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range []deployer.Images{deployer.DefaultImages(), deployer.LocalImages()} {
			df := deployer.Dockerfile(p, im)
			if _, ok := parseShortcut(df); ok != tc.short {
				t.Errorf("%s: shortcut %v, want %v:\n%s", tc.dir, ok, tc.short, df)
			}
		}
	}

	p, _ := deployer.Detect(os.DirFS("../testdata/detect/node-main"))
	s, ok := parseShortcut(deployer.Dockerfile(p, deployer.LocalImages()))
	port, _ := network.ParsePort("8080/tcp")
	want := shortcut{from: "mosaic-local/node:bookworm", workdir: "/srv", env: []string{"NODE_ENV=production", "PORT=8080"},
		expose: network.PortSet{port: {}}, cmd: []string{"/bin/sh", "-c", "node src/app.js"}, dest: "/srv"}
	if !ok || !reflect.DeepEqual(s, want) {
		t.Errorf("node-main: %+v, want %+v", s, want)
	}

	for _, df := range []string{
		"FROM a\nRUN true\n",
		"FROM a AS b\nFROM c\n",
		"FROM scratch\nCOPY . /\n",
		"FROM --platform=linux/amd64 a\n",
		"FROM a\nENV X=$HOME\n",
		"FROM a\nCOPY src /srv\n",
		"FROM a\nCOPY --chown=1:1 . /srv\n",
		"FROM a\nCOPY . /srv\nCOPY . /other\n",
		"FROM a\nWORKDIR rel\n",
		"FROM a\nUSER nobody\n",
		"FROM a\nENTRYPOINT [\"x\"]\n",
		"FROM a\nCMD [\"x\"\n",
		"FROM a\nCMD x \\\n  y\n",
		"WORKDIR /srv\n",
	} {
		if s, ok := parseShortcut(df); ok {
			t.Errorf("%q: shortcut %+v, want the builder", df, s)
		}
	}
	s, ok = parseShortcut("FROM a\nWORKDIR /app\nENV A=1\nENV A=\"2 3\"\nEXPOSE 80 53/udp\nCOPY . www\nCMD [\"x\", \"$PORT\"]\n")
	if !ok || s.dest != "/app/www" || !reflect.DeepEqual(s.env, []string{"A=2 3"}) || len(s.expose) != 2 || !reflect.DeepEqual(s.cmd, []string{"x", "$PORT"}) {
		t.Errorf("shortcut %+v %v", s, ok)
	}
}
