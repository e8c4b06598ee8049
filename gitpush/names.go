package gitpush

import (
	"strings"
	"unicode/utf8"

	"github.com/mosaic-platform/mosaic/errs"
)

// MaxPathBytes bounds a PutFile path.
const MaxPathBytes = 4096

// validProject reports whether s is a project slug: 3 to 32 characters of
// [a-z0-9-], starting and ending with a letter or digit, without "--".
func validProject(s string) bool {
	if len(s) < 3 || len(s) > 32 || strings.Contains(s, "--") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s[0] != '-' && s[len(s)-1] != '-'
}

func checkProject(project string) error {
	if !validProject(project) {
		return errs.New(errs.Invalid, "invalid_project", "project %q is not a valid slug: 3 to 32 lowercase letters, digits and single hyphens", truncate(project, 64))
	}
	return nil
}

// CheckPath reports whether p may be written by PutFile, as an errs.Invalid
// error naming the problem. A path is relative and slash-separated, at most
// MaxPathBytes of valid UTF-8, with no empty, "." or ".." segment, no
// backslash or control character (NUL included), no trailing slash, and no
// segment that git or a client's file system would take for ".git" (any case,
// trailing dots or spaces, the NTFS short name "git~1", HFS+ ignorable
// characters).
func CheckPath(p string) error {
	bad := func(format string, args ...any) error {
		return errs.New(errs.Invalid, "invalid_path", format, args...)
	}
	switch {
	case p == "":
		return bad("path is empty")
	case len(p) > MaxPathBytes:
		return bad("path is %d bytes long; the limit is %d", len(p), MaxPathBytes)
	case !utf8.ValidString(p):
		return bad("path is not valid UTF-8")
	case p[0] == '/':
		return bad("path %q is absolute; give a path relative to the repository root", truncate(p, 64))
	case p[len(p)-1] == '/':
		return bad("path %q ends with a slash; name a file", truncate(p, 64))
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return bad("path contains the control character %U", r)
		}
		if r == '\\' {
			return bad("path %q contains a backslash; use / to separate directories", truncate(p, 64))
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch {
		case seg == "":
			return bad("path %q has an empty segment (//)", truncate(p, 64))
		case seg == "." || seg == "..":
			return bad("path %q has a %q segment; give a plain path", truncate(p, 64), seg)
		case len(seg) > 255:
			return bad("path has a segment of %d bytes; the limit is 255", len(seg))
		case isDotGit(seg):
			return bad("path %q is inside .git, which is reserved", truncate(p, 64))
		}
	}
	return nil
}

// isDotGit reports whether a path segment names .git on some file system.
func isDotGit(seg string) bool {
	s := strings.Map(func(r rune) rune {
		switch { // ignored by HFS+ when comparing names (git's is_hfs_dotgit)
		case r >= 0x200c && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x206a && r <= 0x206f, r == 0xfeff:
			return -1
		}
		return r
	}, seg)
	s = strings.ToLower(strings.TrimRight(s, ". ")) // NTFS drops trailing dots and spaces
	return s == ".git" || s == "git~1"
}

// CheckBranch reports whether b is an acceptable branch name, as an
// errs.Invalid error. The rules are a conservative subset of git
// check-ref-format --branch: [A-Za-z0-9._/-], at most 200 bytes, no "..",
// "//", "@{", no segment starting with "." or ending with ".lock", not
// starting with "-" or "refs/", not ending with "/" or ".", not "HEAD".
func CheckBranch(b string) error {
	bad := func(why string) error {
		return errs.New(errs.Invalid, "invalid_branch", "branch %q is not allowed: %s", truncate(b, 64), why)
	}
	if b == "" || len(b) > 200 {
		return bad("use 1 to 200 characters")
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-') {
			return bad("use letters, digits, '.', '_', '-' and '/'")
		}
	}
	switch {
	case b == "HEAD":
		return bad("HEAD is reserved")
	case b[0] == '-' || b[0] == '/' || strings.HasPrefix(b, "refs/"):
		return bad("it must not start with '-', '/' or 'refs/'")
	case b[len(b)-1] == '/' || b[len(b)-1] == '.':
		return bad("it must not end with '/' or '.'")
	case strings.Contains(b, "..") || strings.Contains(b, "//"):
		return bad("it must not contain '..' or '//'")
	}
	for seg := range strings.SplitSeq(b, "/") {
		if seg[0] == '.' || strings.HasSuffix(seg, ".lock") {
			return bad("no part may start with '.' or end with '.lock'")
		}
	}
	return nil
}

// checkIdent validates an author name or email.
func checkIdent(what, s string) error {
	if len(s) > 256 || !utf8.ValidString(s) || strings.ContainsAny(s, "<>") {
		return errs.New(errs.Invalid, "invalid_author", "author %s must be at most 256 bytes of UTF-8 without '<' or '>'", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errs.New(errs.Invalid, "invalid_author", "author %s contains a control character", what)
		}
	}
	return nil
}

// isHexID reports whether s looks like a full or abbreviated object id.
func isHexID(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
