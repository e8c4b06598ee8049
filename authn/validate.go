package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/mail"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/mosaic-platform/mosaic/errs"
)

// Field limits.
const (
	MaxEmailLen     = 254
	MaxNameLen      = 200
	MaxURLLen       = 2048
	MaxMetadataSize = 16 << 10
)

// NormalizeEmail trims s, lower-cases its domain and checks that it is a
// plain address (local@domain, no display name, no comments, a domain with a
// dot and no IP literal, at most 254 bytes). The local part keeps its case;
// lookups match it case-insensitively (the table's unique index is on
// lower(email)), so Alice@x.com and alice@x.com are one user.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := func() (string, error) {
		return "", errs.New(errs.Invalid, "invalid_email", "email must be an address such as user@example.com")
	}
	if s == "" {
		return "", errs.New(errs.Invalid, "invalid_email", "email is required")
	}
	if len(s) > MaxEmailLen || !utf8.ValidString(s) {
		return bad()
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == '(' || r == ')' || r == ',' || r == ';' || r == '\\' || r == '"' {
			return bad()
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return bad()
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if local == "" || len(local) > 64 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") {
		return bad()
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return bad()
		}
	}
	return local + "@" + domain, nil
}

// ResolveRedirect checks a redirect_url and returns the absolute URL the
// user will be sent to. The rule:
//
//   - an absolute http or https URL with a host and no user info
//     (https://app.example.com/welcome), or
//   - a path on the project's own site, starting with a single "/"
//     (/dashboard?tab=1), resolved against site (https://{slug}.{domain}).
//
// Empty means the site's root. Anything else (other schemes, "//host",
// backslashes, control characters, relative paths, URLs over 2048 bytes) is
// an Invalid error at request time; the URL is then stored with the token,
// so the link can never send the user anywhere else.
func ResolveRedirect(raw, site string) (string, error) {
	bad := func(why string) (string, error) {
		return "", errs.New(errs.Invalid, "invalid_redirect_url",
			"redirect_url must be an absolute http(s) URL or a path on the project's site starting with /: %s", why)
	}
	if raw == "" {
		return strings.TrimRight(site, "/") + "/", nil
	}
	if len(raw) > MaxURLLen {
		return bad("it is longer than 2048 bytes")
	}
	for _, r := range raw {
		if r < ' ' || r == 0x7f || r == '\\' || r == ' ' {
			return bad("it contains spaces, control characters or backslashes")
		}
	}
	if strings.HasPrefix(raw, "/") {
		if strings.HasPrefix(raw, "//") {
			return bad("a path must not start with //")
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			return bad("it is not a valid path")
		}
		return strings.TrimRight(site, "/") + raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("it cannot be parsed")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("the scheme must be http or https")
	}
	if u.Host == "" || u.Opaque != "" || u.Hostname() == "" {
		return bad("it has no host")
	}
	if u.User != nil {
		return bad("it must not carry a user name or password")
	}
	return raw, nil
}

// withQuery adds members to a URL's query, keeping its fragment.
func withQuery(raw string, kv ...string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// tokenBytes is the entropy of a reset or magic-link token: 256 bits.
const tokenBytes = 32

// newToken returns a random URL-safe token and the SHA-256 hash that is
// stored in its place.
func newToken() (token string, hash []byte) {
	b := make([]byte, tokenBytes)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// wellFormedToken reports whether s looks like a token of ours, so junk is
// refused before any query.
func wellFormedToken(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}
