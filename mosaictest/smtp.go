package mosaictest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mosaic-platform/mosaic/authn"
)

// SMTP security modes of an SMTPServer.
const (
	SMTPPlain    = "plain"    // no TLS
	SMTPStartTLS = "starttls" // STARTTLS offered (and required before AUTH)
	SMTPImplicit = "implicit" // TLS from the first byte (smtps://)
)

// SMTPOptions configure StartSMTP.
type SMTPOptions struct {
	// Mode is SMTPPlain, SMTPStartTLS (default) or SMTPImplicit.
	Mode string
	// User and Password, when set, are required (AUTH PLAIN) before MAIL.
	User, Password string
}

// SMTPServer is a real SMTP server (github.com/emersion/go-smtp) on a
// loopback port, with a self-signed certificate, that keeps every message
// it receives. Platforms of an Env send to one through authn's SMTP mailer.
type SMTPServer struct {
	o     SMTPOptions
	srv   *smtp.Server
	ln    net.Listener
	roots *x509.CertPool

	mu     sync.Mutex
	msgs   []Mail
	taken  map[int]bool
	notify chan struct{} // closed and replaced on each delivery
}

// Mail is one message the SMTP server received, parsed.
type Mail struct {
	// From and To are the envelope (MAIL FROM, RCPT TO).
	From string
	To   []string
	// Header is the message's header; Subject is decoded.
	Header  mail.Header
	Subject string
	// Text and HTML are the decoded bodies of the text/plain and text/html parts.
	Text, HTML string
	// Raw is the message as received.
	Raw []byte
}

// StartSMTP starts an SMTP server on 127.0.0.1. Close stops it.
func StartSMTP(o SMTPOptions) (*SMTPServer, error) {
	if o.Mode == "" {
		o.Mode = SMTPStartTLS
	}
	cert, roots, err := selfSigned()
	if err != nil {
		return nil, err
	}
	s := &SMTPServer{o: o, roots: roots, taken: map[int]bool{}, notify: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 10
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	switch o.Mode {
	case SMTPPlain:
		srv.AllowInsecureAuth = true
	case SMTPStartTLS:
		srv.TLSConfig = tlsCfg
	case SMTPImplicit:
		srv.TLSConfig = tlsCfg
		ln = tls.NewListener(ln, tlsCfg)
	default:
		ln.Close()
		return nil, fmt.Errorf("mosaictest: unknown SMTP mode %q", o.Mode)
	}
	s.srv, s.ln = srv, ln
	go srv.Serve(ln)
	return s, nil
}

// URL is the server's address as authn.NewSMTP takes it: smtp:// or
// smtps://, with the user and password when set.
func (s *SMTPServer) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.ln.Addr().String()}
	if s.o.Mode == SMTPImplicit {
		u.Scheme = "smtps"
	}
	if s.o.User != "" {
		u.User = url.UserPassword(s.o.User, s.o.Password)
	}
	return u.String()
}

// TLSConfig trusts the server's certificate.
func (s *SMTPServer) TLSConfig() *tls.Config { return &tls.Config{RootCAs: s.roots} }

// Mailer returns an authn SMTP mailer that sends to this server.
func (s *SMTPServer) Mailer() (*authn.SMTP, error) {
	return authn.NewSMTP(authn.SMTPOptions{URL: s.URL(), From: "no-reply@mosaic.example", TLSConfig: s.TLSConfig()})
}

// Close stops the server.
func (s *SMTPServer) Close() error { return s.srv.Close() }

// Messages returns every message received so far.
func (s *SMTPServer) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.msgs...)
}

// Wait returns the first message to address (case-insensitive) that no
// earlier Wait returned, waiting for it until ctx ends.
func (s *SMTPServer) Wait(ctx context.Context, address string) (Mail, error) {
	for {
		s.mu.Lock()
		for i, m := range s.msgs {
			if s.taken[i] {
				continue
			}
			for _, to := range m.To {
				if strings.EqualFold(to, address) {
					s.taken[i] = true
					s.mu.Unlock()
					return m, nil
				}
			}
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Mail{}, fmt.Errorf("no email to %s arrived: %w", address, ctx.Err())
		}
	}
}

func (s *SMTPServer) deliver(m Mail) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// Mail returns every message the Env's SMTP server received.
func (e *Env) Mail() []Mail { return e.SMTP.Messages() }

// WaitMail returns the next message to address that no earlier WaitMail
// returned, failing the test when none arrives within a minute (mail
// leaves the platform in the background).
func (e *Env) WaitMail(t testing.TB, address string) Mail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := e.SMTP.Wait(ctx, address)
	if err != nil {
		t.Fatalf("mosaictest: %v", err)
	}
	return m
}

type smtpSession struct {
	s      *SMTPServer
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (ss *smtpSession) AuthMechanisms() []string {
	if ss.s.o.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.o.User || pass != ss.s.o.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.o.User != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parseMail(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "cannot parse the message: " + err.Error()}
	}
	m.From, m.To = ss.from, append([]string(nil), ss.to...)
	ss.s.deliver(m)
	return nil
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

// parseMail reads a message as a mail client would: the header, the
// decoded subject, and the text and HTML parts, transfer encoding undone.
func parseMail(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	m := Mail{Header: msg.Header, Raw: raw}
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Mail{}, err
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Mail{}, err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, err := io.ReadAll(msg.Body)
		m.Text = string(b)
		return m, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // undoes quoted-printable
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return Mail{}, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return Mail{}, err
		}
		switch pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); pt {
		case "text/plain":
			m.Text = string(b)
		case "text/html":
			m.HTML = string(b)
		}
	}
}

var (
	certOnce  sync.Once
	certPair  tls.Certificate
	certRoots *x509.CertPool
	certErr   error
)

// selfSigned returns a certificate for 127.0.0.1 and localhost, made once
// per process, and a pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()),
			Subject:      pkix.Name{CommonName: "mosaictest SMTP"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(7 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IsCA:         true, BasicConstraintsValid: true,
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:    []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			certErr = err
			return
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			certErr = err
			return
		}
		certRoots = x509.NewCertPool()
		certRoots.AddCert(cert)
		certPair = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
	})
	return certPair, certRoots, certErr
}
