package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestMountStripsAsStripPrefix: Mount's prefix stripping (done in the
// request copy the handler makes anyway) answers every request as the
// handler behind http.StripPrefix does: escaped and odd paths, the bare
// prefix, paths beside it.
func TestMountStripsAsStripPrefix(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t)
	slug := env.Project(t).Slug
	ctx := t.Context()
	if _, err := env.Client.PutSiteFile(ctx, slug, "a+b/c@d.html", []byte("<p>x</p>")); err != nil {
		t.Fatal(err)
	}
	prefix := env.Handler.Prefix()
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, env.Handler))
	mux.Handle(prefix, http.StripPrefix(prefix, env.Handler))
	ref := httptest.NewServer(mux)
	defer ref.Close()

	paths := []string{
		prefix, prefix + "/", prefix + "//", prefix + "/" + slug, prefix + "/" + slug + "/",
		prefix + "/" + slug + "/files?path=a%2Bb/c%40d.html",
		prefix + "/" + slug + "/files/a%2Bb/c%40d.html",
		prefix + "/" + slug + "/files/a%2Fb",
		prefix + "/" + slug + "/storage/files/x%2F..%2Fy",
		prefix + "/" + slug + "/storage/download/a%00b",
		prefix + "/%2e%2e/" + slug + "/files",
		prefix + "/" + slug + "/../whoami",
		prefix + "/whoami", prefix + "/nope", prefix + "x/whoami",
		"/" + strings.Replace(prefix[1:], "/", "%2F", 1) + "/whoami", // one segment: neither mount's pattern
	}
	for _, p := range paths {
		for _, m := range []string{"GET", "HEAD", "OPTIONS", "PATCH"} { // nothing that changes state
			var got [2]string
			for i, base := range []string{env.Server.URL, ref.URL} {
				req, err := http.NewRequest(m, base+p, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-API-Key", env.APIKey)
				req.Header.Set("X-Request-ID", "mount-test")
				resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got[i] = resp.Status + " " + resp.Header.Get("Location") + " " + string(bytes.TrimSpace(b))
			}
			if got[0] != got[1] {
				t.Errorf("%s %s:\n Mount:       %s\n StripPrefix: %s", m, p, got[0], got[1])
			}
		}
	}
}
