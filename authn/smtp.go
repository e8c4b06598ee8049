package authn

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// SMTPOptions configure an SMTP mailer.
type SMTPOptions struct {
	// URL names the server: smtp://user:pass@host:587 (STARTTLS when the
	// server offers it; default port 587) or smtps://user:pass@host:465
	// (TLS from the first byte; default port 465). User and password are
	// optional; they are only ever sent over TLS, or to a server on
	// loopback. A "from" query member sets From (?from=no-reply@example.com).
	URL string
	// From is the sender's address (default: the URL's "from", else
	// no-reply@ the server's host).
	From string
	// TLSConfig is used for STARTTLS and smtps (default: the system roots,
	// ServerName the URL's host). Tests set RootCAs.
	TLSConfig *tls.Config
	// Timeout bounds one Send when its context has no deadline (default 30 s).
	Timeout time.Duration
	// LocalName is the name sent in EHLO (default "localhost").
	LocalName string
}

// SMTP sends messages through an SMTP server, one connection per message.
type SMTP struct {
	o          SMTPOptions
	addr, host string
	implicit   bool
	user, pass string
}

var _ Mailer = (*SMTP)(nil)

// NewSMTP checks the options and returns a mailer. It does no I/O.
func NewSMTP(o SMTPOptions) (*SMTP, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, errors.New("authn: the SMTP URL cannot be parsed")
	}
	s := &SMTP{o: o}
	port := ""
	switch u.Scheme {
	case "smtp":
		port = "587"
	case "smtps":
		port, s.implicit = "465", true
	default:
		return nil, fmt.Errorf("authn: the SMTP URL must start with smtp:// or smtps://, not %q", u.Scheme+"://")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("authn: the SMTP URL has no host")
	}
	if u.Port() != "" {
		port = u.Port()
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	if s.o.From == "" {
		s.o.From = u.Query().Get("from")
	}
	if s.o.From == "" {
		s.o.From = "no-reply@" + s.host
	} else if a, err := mail.ParseAddress(s.o.From); err != nil || a.Name != "" || a.Address != s.o.From {
		return nil, fmt.Errorf("authn: the SMTP sender %q is not a plain email address", s.o.From)
	}
	if s.o.Timeout <= 0 {
		s.o.Timeout = 30 * time.Second
	}
	if s.o.LocalName == "" {
		s.o.LocalName = "localhost"
	}
	return s, nil
}

// String describes the mailer without its password.
func (s *SMTP) String() string {
	scheme := "smtp"
	if s.implicit {
		scheme = "smtps"
	}
	user := ""
	if s.user != "" {
		user = s.user + ":***@"
	}
	return scheme + "://" + user + s.addr
}

// From returns the sender's address.
func (s *SMTP) From() string { return s.o.From }

func (s *SMTP) tlsConfig() *tls.Config {
	c := &tls.Config{}
	if s.o.TLSConfig != nil {
		c = s.o.TLSConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = s.host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// Send implements Mailer: connect, STARTTLS when offered (smtp://), AUTH
// PLAIN when the URL has a user, then one message.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := NormalizeEmail(m.To)
	if err != nil {
		return fmt.Errorf("authn: bad recipient: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.o.Timeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", s.addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.implicit {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("smtp: TLS with %s: %w", s.addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("smtp: greeting from %s: %w", s.addr, err)
	}
	defer c.Close()
	if err := c.Hello(s.o.LocalName); err != nil {
		return fmt.Errorf("smtp: EHLO: %w", err)
	}
	if !s.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("smtp: STARTTLS: %w", err)
			}
		}
	}
	if s.user != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("smtp: %s offers no AUTH, but the URL has a user", s.addr)
		}
		// PlainAuth refuses to send the password without TLS unless the
		// server is on loopback.
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host)); err != nil {
			return fmt.Errorf("smtp: AUTH: %w", err)
		}
	}
	if err := c.Mail(s.o.From); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(compose(s.o.From, to, m, time.Now())); err != nil {
		return fmt.Errorf("smtp: writing the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: message refused: %w", err)
	}
	return c.Quit()
}

// header strips what could break a header line.
func header(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

// compose writes m as a MIME message: multipart/alternative with the plain
// text first and the HTML second, both quoted-printable UTF-8.
func compose(from, to string, m Message, now time.Time) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	id := make([]byte, 12)
	rand.Read(id)
	domain := from[strings.LastIndexByte(from, '@')+1:]
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	fromHdr := "<" + from + ">"
	if name := strings.TrimSpace(header(m.FromName)); name != "" {
		fromHdr = mime.QEncoding.Encode("utf-8", name) + " " + fromHdr
	}
	h("From", fromHdr)
	h("To", "<"+to+">")
	h("Subject", mime.QEncoding.Encode("utf-8", header(m.Subject)))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	h("MIME-Version", "1.0")
	h("Auto-Submitted", "auto-generated")
	h("Content-Type", "multipart/alternative; boundary=\""+mw.Boundary()+"\"")
	b.WriteString("\r\n")
	part := func(ctype, body string) {
		pw, _ := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {ctype + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		qw := quotedprintable.NewWriter(pw)
		qw.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")))
		qw.Close()
	}
	part("text/plain", m.Text)
	if m.HTML != "" {
		part("text/html", m.HTML)
	}
	mw.Close()
	return b.Bytes()
}
