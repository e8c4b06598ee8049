package authn_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestAuthSMTPMailer sends through a real SMTP server (go-smtp on a
// loopback socket) in each of its security modes and reads the message back
// as a mail client would.
func TestAuthSMTPMailer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    mosaictest.SMTPOptions
	}{
		{"plain", mosaictest.SMTPOptions{Mode: mosaictest.SMTPPlain}},
		{"plain-auth-loopback", mosaictest.SMTPOptions{Mode: mosaictest.SMTPPlain, User: "u", Password: "p@ss:word"}},
		{"starttls-auth", mosaictest.SMTPOptions{Mode: mosaictest.SMTPStartTLS, User: "mailer", Password: "s3cret"}},
		{"smtps-auth", mosaictest.SMTPOptions{Mode: mosaictest.SMTPImplicit, User: "mailer", Password: "s3cret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := mosaictest.StartSMTP(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			m, err := authn.NewSMTP(authn.SMTPOptions{URL: srv.URL() + "?from=hello@mosaic.example", TLSConfig: srv.TLSConfig()})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(m.String(), tc.o.Password+"@") && tc.o.Password != "" {
				t.Fatalf("String shows the password: %s", m)
			}
			link := "http://127.0.0.1:1/v1/project/acme-x1/auth/verify?token=" + strings.Repeat("A", 43) + "&redirect=" + strings.Repeat("https%3A%2F%2Fapp.example%2Fwelcome", 3)
			msg := authn.LinkMessage("magic_link", "Acme Ünïcode", "ada@example.com", nil, link, authn.DefaultMagicLinkTTL)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := m.Send(ctx, msg); err != nil {
				t.Fatal(err)
			}
			got, err := srv.Wait(ctx, "ada@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if got.From != "hello@mosaic.example" || got.Subject != "Sign in to Acme Ünïcode" {
				t.Fatalf("from %q subject %q", got.From, got.Subject)
			}
			if !strings.Contains(got.Text, link) || !strings.Contains(got.HTML, strings.ReplaceAll(link, "&", "&amp;")) {
				t.Fatalf("the link did not survive the trip:\ntext: %s\nhtml: %s", got.Text, got.HTML)
			}
			if !strings.Contains(got.Header.Get("From"), "hello@mosaic.example") || got.Header.Get("Message-Id") == "" {
				t.Fatalf("header %v", got.Header)
			}
		})
	}
}

func TestAuthSMTPMailerFailures(t *testing.T) {
	t.Parallel()
	srv, err := mosaictest.StartSMTP(mosaictest.SMTPOptions{Mode: mosaictest.SMTPStartTLS, User: "mailer", Password: "right"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	msg := authn.LinkMessage("reset", "Acme", "ada@example.com", nil, "http://x.example/l", time.Hour)
	send := func(url string, tc *tls.Config) error {
		m, err := authn.NewSMTP(authn.SMTPOptions{URL: url, TLSConfig: tc, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return m.Send(ctx, msg)
	}
	u := srv.URL()
	if err := send(strings.Replace(u, ":right@", ":wrong@", 1), srv.TLSConfig()); err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Fatalf("wrong password: %v", err)
	}
	// The certificate is checked: without the test root it is refused.
	if err := send(u, nil); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	if err := send("smtp://127.0.0.1:1", nil); err == nil {
		t.Fatal("a closed port accepted mail")
	}
	if len(srv.Messages()) != 0 {
		t.Fatalf("%d messages delivered", len(srv.Messages()))
	}
	for _, bad := range []string{"http://host", "smtp://", "smtp://host?from=not an address", "mailto:x@y.z"} {
		if _, err := authn.NewSMTP(authn.SMTPOptions{URL: bad}); err == nil {
			t.Errorf("NewSMTP(%q) accepted", bad)
		}
	}
}
