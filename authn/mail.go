package authn

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"strings"
	"time"
)

// Mailer sends the reset and magic-link messages. Implementations: SMTP
// (NewSMTP) and LogMailer (the embedded default, for development).
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Message is one email: a plain-text body and an HTML alternative.
type Message struct {
	// To is the recipient's address.
	To string
	// FromName is the display name of the sender (the project's name); the
	// address is the mailer's.
	FromName string
	Subject  string
	Text     string
	HTML     string
	// Kind is "magic_link" or "reset", for logs.
	Kind string
}

// LogValue keeps the bodies, which hold the link, out of structured logs
// that print a Message by accident. LogMailer writes the link on purpose.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(slog.String("to", m.To), slog.String("subject", m.Subject), slog.String("kind", m.Kind))
}

// LogMailer is the embedded default Mailer: instead of sending, it writes
// each message, link included, to its logger at level Info. It is meant for
// development, where the developer reads the link from the server's log;
// anyone who can read that log can sign in as the recipient, so configure
// SMTP (MOSAIC_SMTP_URL) in production.
type LogMailer struct {
	Logger *slog.Logger
}

var _ Mailer = LogMailer{}

// Send implements Mailer.
func (l LogMailer) Send(ctx context.Context, m Message) error {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "email not sent (no SMTP server configured; the log mailer writes it here instead)",
		"to", m.To, "subject", m.Subject, "kind", m.Kind, "body", m.Text)
	return nil
}

// LinkMessage composes the email of a magic link (kind "magic_link") or a
// password reset (kind "reset") for project, branded with its name:
// "Sign in to {project}" or "Reset your {project} password".
func LinkMessage(kind, project, to string, name *string, link string, ttl time.Duration) Message {
	greeting := "Hello,"
	if name != nil && strings.TrimSpace(*name) != "" {
		greeting = "Hello " + strings.TrimSpace(*name) + ","
	}
	mins := int(ttl.Round(time.Minute) / time.Minute)
	expires := fmt.Sprintf("%d minutes", mins)
	if mins%60 == 0 && mins >= 60 {
		expires = fmt.Sprintf("%d hour", mins/60)
		if mins > 60 {
			expires += "s"
		}
	}
	d := mailData{Greeting: greeting, Project: project, Link: link, Expires: expires}
	m := Message{To: to, FromName: project, Kind: kind}
	switch kind {
	case "reset":
		m.Subject = "Reset your " + project + " password"
		d.Action, d.Button = "Someone asked to reset the password of your "+project+" account. To choose a new password, open this link:", "Reset password"
		d.Ignore = "If you did not ask for this, ignore this email: your password stays as it is."
	default:
		m.Subject = "Sign in to " + project
		d.Action, d.Button = "To sign in to "+project+", open this link:", "Sign in to "+project
		d.Ignore = "If you did not ask for this, ignore this email."
	}
	m.Text = d.Greeting + "\n\n" + d.Action + "\n\n" + d.Link + "\n\nThe link works once and expires in " + d.Expires + ".\n" + d.Ignore + "\n\n— " + project + "\n"
	var b strings.Builder
	if err := htmlTemplate.Execute(&b, d); err == nil {
		m.HTML = b.String()
	}
	return m
}

type mailData struct {
	Greeting, Project, Action, Button, Link, Expires, Ignore string
}

var htmlTemplate = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Project}}</title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #222; max-width: 560px; margin: 0 auto; padding: 24px">
<h2 style="margin-top: 0">{{.Project}}</h2>
<p>{{.Greeting}}</p>
<p>{{.Action}}</p>
<p><a href="{{.Link}}" style="display: inline-block; background: #2d5bd7; color: #fff; padding: 10px 18px; border-radius: 6px; text-decoration: none">{{.Button}}</a></p>
<p style="font-size: 13px; color: #555">Or paste this address into your browser:<br><span style="word-break: break-all">{{.Link}}</span></p>
<p style="font-size: 13px; color: #555">The link works once and expires in {{.Expires}}. {{.Ignore}}</p>
</body></html>
`))
