package authn_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/mosaic-platform/mosaic/authn"
)

// Emails are trimmed and their domain lower-cased; redirect URLs are either
// absolute http(s) URLs or paths on the project's site.
func ExampleResolveRedirect() {
	email, _ := authn.NormalizeEmail("  Ada@Example.COM ")
	fmt.Println(email)

	site := "https://myapp-x4k2.mosaic.site"
	for _, r := range []string{"/dashboard", "https://yourapp.com/welcome", "//evil.example", "javascript:alert(1)"} {
		to, err := authn.ResolveRedirect(r, site)
		if err != nil {
			fmt.Println(r, "→ refused")
			continue
		}
		fmt.Println(r, "→", to)
	}
	// Output:
	// Ada@example.com
	// /dashboard → https://myapp-x4k2.mosaic.site/dashboard
	// https://yourapp.com/welcome → https://yourapp.com/welcome
	// //evil.example → refused
	// javascript:alert(1) → refused
}

// LinkMessage composes the branded email that a Mailer sends.
func ExampleLinkMessage() {
	m := authn.LinkMessage("magic_link", "Acme Notes", "ada@example.com", nil,
		"https://api.example.com/v1/project/acme/auth/verify?token=...&redirect=...", 15*time.Minute)
	fmt.Println(m.Subject)
	fmt.Println(strings.Split(m.Text, "\n")[2])
	// Output:
	// Sign in to Acme Notes
	// To sign in to Acme Notes, open this link:
}
