package gitpush_test

import (
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mosaic-platform/mosaic/gitpush"
)

// FuzzCheckPath checks the invariants of an accepted path: clean, relative,
// valid UTF-8 without control characters or backslashes, and no segment
// that is .git in any case.
//
//	go test -run '^$' -fuzz FuzzCheckPath ./gitpush/
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"a", "a/b.txt", "../x", ".git/config", ".GIT/x", "git~1", "a//b", "/a", "a\x00", "日本/語", ".git. /x", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if gitpush.CheckPath(p) != nil {
			return
		}
		if path.Clean(p) != p || path.IsAbs(p) || strings.HasPrefix(p, "../") || p == ".." || !utf8.ValidString(p) || strings.ContainsRune(p, '\\') {
			t.Fatalf("accepted unsafe path %q", p)
		}
		for _, r := range p {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("accepted control character in %q", p)
			}
		}
		for seg := range strings.SplitSeq(p, "/") {
			if strings.EqualFold(strings.TrimRight(seg, ". "), ".git") {
				t.Fatalf("accepted .git segment in %q", p)
			}
		}
	})
}

// FuzzCheckBranch checks that accepted branch names are plain and safe to
// pass to git as arguments.
func FuzzCheckBranch(f *testing.F) {
	for _, s := range []string{"main", "feature/x", "-x", "a..b", "x.lock", "HEAD", "a/.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b string) {
		if gitpush.CheckBranch(b) != nil {
			return
		}
		if strings.HasPrefix(b, "-") || strings.Contains(b, "..") || strings.ContainsAny(b, " ~^:?*[\\@") || strings.HasSuffix(b, ".lock") {
			t.Fatalf("accepted %q", b)
		}
	})
}
