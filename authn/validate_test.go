package authn

import (
	"net/url"
	"strings"
	"testing"
)

func TestAuthNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"user@example.com":                       "user@example.com",
		"  User@Example.COM \n":                  "User@example.com",
		"first.last+tag@sub.ex.org":              "first.last+tag@sub.ex.org",
		"":                                       "",
		"user":                                   "",
		"user@":                                  "",
		"@example.com":                           "",
		"user@localhost":                         "",
		"user@[127.0.0.1]":                       "",
		"Alice <alice@example.com>":              "",
		"a b@example.com":                        "",
		"user@exa mple.com":                      "",
		"user@example.com\r\nBcc: x":             "",
		"user@-example.com":                      "",
		"user@example..com":                      "",
		strings.Repeat("a", 65) + "@example.com": "",
		"a@" + strings.Repeat("b", 250) + ".com": "",
	} {
		got, err := NormalizeEmail(in)
		if want == "" {
			if err == nil {
				t.Errorf("NormalizeEmail(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestAuthResolveRedirect(t *testing.T) {
	site := "https://myapp-x4k2.mosaic.site"
	for in, want := range map[string]string{
		"":                                   site + "/",
		"/dashboard":                         site + "/dashboard",
		"/reset?tab=1#top":                   site + "/reset?tab=1#top",
		"https://yourapp.com/reset":          "https://yourapp.com/reset",
		"http://localhost:3000/cb":           "http://localhost:3000/cb",
		"//evil.example/x":                   "",
		"/\\evil.example":                    "",
		"javascript:alert(1)":                "",
		"data:text/html,hi":                  "",
		"ftp://files.example/x":              "",
		"dashboard":                          "",
		"https://user:pw@yourapp.com/":       "",
		"https:///path-only":                 "",
		"https://yourapp.com/a b":            "",
		"https://yourapp.com/\x00":           "",
		"/" + strings.Repeat("a", MaxURLLen): "",
		"HTTPS://YourApp.com/x":              "HTTPS://YourApp.com/x",
	} {
		got, err := ResolveRedirect(in, site)
		if want == "" {
			if err == nil {
				t.Errorf("ResolveRedirect(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ResolveRedirect(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestAuthTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, hash := newToken()
		if len(tok) != 43 || !wellFormedToken(tok) || len(hash) != 32 {
			t.Fatalf("token %q (%d chars), hash %d bytes", tok, len(tok), len(hash))
		}
		if seen[tok] {
			t.Fatal("a token repeated")
		}
		seen[tok] = true
		if url.QueryEscape(tok) != tok {
			t.Fatalf("token %q is not URL-safe", tok)
		}
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("+", 43)} {
		if wellFormedToken(bad) {
			t.Errorf("%q passed as a token", bad)
		}
	}
}

func TestAuthMessages(t *testing.T) {
	name := "Ada <b>"
	m := LinkMessage("magic_link", "Acme & Co", "ada@example.com", &name, "https://api.example/v1/project/acme/auth/verify?token=T&redirect=R", DefaultMagicLinkTTL)
	if m.Subject != "Sign in to Acme & Co" || m.FromName != "Acme & Co" {
		t.Fatalf("subject %q from %q", m.Subject, m.FromName)
	}
	if !strings.Contains(m.Text, "https://api.example/v1/project/acme/auth/verify?token=T&redirect=R") || !strings.Contains(m.Text, "15 minutes") {
		t.Fatalf("text: %s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="https://api.example/v1/project/acme/auth/verify?token=T&amp;redirect=R"`) || strings.Contains(m.HTML, "<b>") {
		t.Fatalf("html not escaped or without the link: %s", m.HTML)
	}
	r := LinkMessage("reset", "Acme", "ada@example.com", nil, "L", DefaultResetTTL)
	if r.Subject != "Reset your Acme password" || !strings.Contains(r.Text, "1 hour") {
		t.Fatalf("reset: %q %s", r.Subject, r.Text)
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"user@example.com", " A@B.CO ", "a@b", "\"x y\"@example.com", "a@b.c\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(got, " \r\n\t<>\"\\") || len(got) > MaxEmailLen || strings.Count(got, "@") < 1 {
			t.Fatalf("NormalizeEmail(%q) = %q", s, got)
		}
		if again, err := NormalizeEmail(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, got, again, err)
		}
	})
}

func FuzzResolveRedirect(f *testing.F) {
	for _, s := range []string{"/a", "https://x.example/y", "//x", "/\\x", "javascript:x", ""} {
		f.Add(s)
	}
	site := "https://app.mosaic.site"
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ResolveRedirect(s, site)
		if err != nil {
			return
		}
		u, perr := url.Parse(got)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https" && !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) || u.Host == "" || u.User != nil {
			t.Fatalf("ResolveRedirect(%q) = %q: not an absolute http(s) URL", s, got)
		}
		if strings.HasPrefix(s, "/") && u.Host != "app.mosaic.site" {
			t.Fatalf("path %q resolved off the site: %q", s, got)
		}
	})
}
