package mosaic

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/kv"
)

// End-user auth types, from package authn.
type (
	AuthUser     = authn.User
	AuthUserList = authn.UserList
	AuthNewUser  = authn.NewUser
	AuthPatch    = authn.UserPatch
	AuthList     = authn.ListOptions
	AuthInit     = authn.InitResult
)

// AuthLimits are the end-user auth throttles. Each counts requests per
// project in fixed windows of Window, in Config.Limiter (shared across
// replicas when that is Redis). A zero field takes its default from
// DefaultAuthLimits; a negative one turns that throttle off. Over a limit the
// answer is RateLimited (429) with Retry-After. IP is the client address the
// HTTP layer saw (the connection's peer). If the limiter fails, these
// routes fail closed (503).
//
// The magic-link emails per day of the project's plan (10, 100, 1,000,
// 10,000 in DefaultPlans) are counted on top of these.
type AuthLimits struct {
	Window time.Duration
	// Logins per email and per client IP.
	LoginPerEmail, LoginPerIP int
	// Password-reset requests per email and per client IP.
	ResetPerEmail, ResetPerIP int
	// Magic-link requests per email and per client IP.
	MagicLinkPerEmail, MagicLinkPerIP int
}

// DefaultAuthLimits are the documented throttles: per 15 minutes and
// project, 10 logins per email and 300 per IP; 5 reset emails per address
// and 60 per IP; 5 magic links per address and 60 per IP.
var DefaultAuthLimits = AuthLimits{
	Window:        15 * time.Minute,
	LoginPerEmail: 10, LoginPerIP: 300,
	ResetPerEmail: 5, ResetPerIP: 60,
	MagicLinkPerEmail: 5, MagicLinkPerIP: 60,
}

// maxMailInFlight bounds the auth emails being handed to the Mailer at once.
const maxMailInFlight = 16

func (p *Platform) newAuth() error {
	c := p.cfg.Auth
	if c.Now == nil {
		c.Now = p.cfg.Now
	}
	if c.Logger == nil {
		c.Logger = p.log
	}
	svc, err := authn.New(c)
	if err != nil {
		return err
	}
	p.auth = svc
	if p.cfg.Mailer == nil {
		p.cfg.Mailer = authn.LogMailer{Logger: p.log}
	}
	l, d := &p.cfg.AuthLimits, DefaultAuthLimits
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&l.LoginPerEmail, d.LoginPerEmail}, {&l.LoginPerIP, d.LoginPerIP},
		{&l.ResetPerEmail, d.ResetPerEmail}, {&l.ResetPerIP, d.ResetPerIP},
		{&l.MagicLinkPerEmail, d.MagicLinkPerEmail}, {&l.MagicLinkPerIP, d.MagicLinkPerIP},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if l.Window <= 0 {
		l.Window = d.Window
	}
	if p.cfg.AuthLinkBase == "" {
		p.cfg.AuthLinkBase = p.publicURL.String() + "/v1/project"
	}
	p.cfg.AuthLinkBase = strings.TrimRight(p.cfg.AuthLinkBase, "/")
	p.authMail = make(chan struct{}, maxMailInFlight)
	return nil
}

// Auth is one project's end-user auth (the /{slug}/auth/* routes that need
// an API key). Get it from Platform.Auth; it is valid for one request.
type Auth struct {
	p     *Platform
	owner uuid.UUID
	slug  string
	t     *tenantEntry
}

// Auth returns the end-user auth of one of owner's projects. Its tables
// live in the project's database (public.auth_users, public.auth_tokens),
// made on first use, and are reached only as the project's own role.
func (p *Platform) Auth(ctx context.Context, owner uuid.UUID, slug string) (*Auth, error) {
	if owner == uuid.Nil {
		return nil, notFound(slug) // uuid.Nil means "any owner" to tenant: only the public links may ask that
	}
	return p.authFor(ctx, owner, slug)
}

// authFor is Auth without the owner check; owner uuid.Nil finds the
// project by slug alone, for the public links (verify, reset confirm).
func (p *Platform) authFor(ctx context.Context, owner uuid.UUID, slug string) (*Auth, error) {
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	return &Auth{p: p, owner: owner, slug: slug, t: t}, nil
}

// Project returns the project.
func (a *Auth) Project() *Project { return &a.t.pr }

// with runs f on the project's database. When the pool turns out closed
// (the project was deleted, or its idle pool evicted) the project is looked
// up again and f runs once more; a database that is gone is NotFound.
func (a *Auth) with(ctx context.Context, f func(*authn.Tenant) error) error {
	for attempt := 0; ; attempt++ {
		pool, err := a.p.dbs.Pool(ctx, a.t.creds)
		if err != nil {
			return err
		}
		err = f(a.p.auth.For(pool))
		switch {
		case errors.Is(err, &errs.Error{Kind: errs.NotFound, Code: "project_not_found"}):
			a.p.forgetTenant(a.owner, a.slug)
			return notFound(a.slug)
		case attempt == 0 && errors.Is(err, &errs.Error{Kind: errs.Unavailable, Code: "pool_closed"}):
			a.p.forgetTenant(a.owner, a.slug)
			t, terr := a.p.tenant(ctx, a.owner, a.slug)
			if terr != nil {
				return terr
			}
			a.t = t
			continue
		}
		return err
	}
}

// Init creates or upgrades the auth tables.
func (a *Auth) Init(ctx context.Context) (*AuthInit, error) {
	var r *AuthInit
	err := a.with(ctx, func(u *authn.Tenant) (err error) { r, err = u.Init(ctx); return })
	return r, err
}

// Signup creates a user with a password: Invalid (400) for a password under
// 8 characters or a bad email, Conflict (409) "user_exists", Quota (402)
// "database_full" when the project's database is over its plan's size.
func (a *Auth) Signup(ctx context.Context, in AuthNewUser) (*AuthUser, error) {
	if err := a.checkRoom(ctx); err != nil {
		return nil, err
	}
	var out *AuthUser
	err := a.with(ctx, func(u *authn.Tenant) (err error) { out, err = u.Signup(ctx, in); return })
	return out, err
}

// Login checks an email and password (Unauthorized, 401,
// "invalid_credentials" for any mismatch), throttled per email and per
// clientIP ("" skips the IP throttle).
func (a *Auth) Login(ctx context.Context, email, password, clientIP string) (*AuthUser, error) {
	if err := a.throttle(ctx, "login", email, clientIP, a.p.cfg.AuthLimits.LoginPerEmail, a.p.cfg.AuthLimits.LoginPerIP, "login attempts"); err != nil {
		return nil, err
	}
	var out *AuthUser
	err := a.with(ctx, func(u *authn.Tenant) (err error) { out, err = u.Login(ctx, email, password); return })
	return out, err
}

// ChangePassword replaces a user's password, checking the current one.
func (a *Auth) ChangePassword(ctx context.Context, id uuid.UUID, current, next string) (*AuthUser, error) {
	var out *AuthUser
	err := a.with(ctx, func(u *authn.Tenant) (err error) { out, err = u.ChangePassword(ctx, id, current, next); return })
	return out, err
}

// SetPassword sets a user's password without the current one (a magic-link
// user gets one: has_password becomes true).
func (a *Auth) SetPassword(ctx context.Context, id uuid.UUID, password string) (*AuthUser, error) {
	var out *AuthUser
	err := a.with(ctx, func(u *authn.Tenant) (err error) { out, err = u.SetPassword(ctx, id, password); return })
	return out, err
}

// SendPasswordReset emails a reset link to the user with this email, if
// there is one; the answer is the same either way (the link's lifetime).
// redirectURL follows authn.ResolveRedirect (empty: the project's site).
// The email leaves in the background.
func (a *Auth) SendPasswordReset(ctx context.Context, email, redirectURL, clientIP string) (time.Duration, error) {
	norm, redirect, err := a.checkEmailRedirect(email, redirectURL)
	if err != nil {
		return 0, err
	}
	l := a.p.cfg.AuthLimits
	if err := a.throttle(ctx, "reset", norm, clientIP, l.ResetPerEmail, l.ResetPerIP, "password-reset requests"); err != nil {
		return 0, err
	}
	var pend *authn.Pending
	if err := a.with(ctx, func(u *authn.Tenant) (err error) { pend, err = u.RequestReset(ctx, norm, redirect); return }); err != nil {
		return 0, err
	}
	if pend != nil {
		a.p.mailLink("reset", &a.t.pr, pend, a.p.authLink(a.t.pr.Slug, "reset-password/confirm", pend.Token, redirect))
	}
	return a.p.auth.ResetTTL(), nil
}

// SendMagicLink emails a sign-in link; following it creates the user if
// missing (with name) and marks the email verified. It counts against the
// plan's magic links per day (429 with Retry-After when spent) and the
// throttles. The email leaves in the background.
func (a *Auth) SendMagicLink(ctx context.Context, email, redirectURL string, name *string, clientIP string) (time.Duration, error) {
	norm, redirect, err := a.checkEmailRedirect(email, redirectURL)
	if err != nil {
		return 0, err
	}
	if name != nil && utf8.RuneCountInString(*name) > authn.MaxNameLen {
		return 0, errs.New(errs.Invalid, "invalid_name", "name must be at most %d characters", authn.MaxNameLen)
	}
	l := a.p.cfg.AuthLimits
	if err := a.throttle(ctx, "magic", norm, clientIP, l.MagicLinkPerEmail, l.MagicLinkPerIP, "magic-link requests"); err != nil {
		return 0, err
	}
	plan, ok := a.p.cfg.Plans[a.t.pr.Plan]
	if !ok {
		return 0, errs.Internalf(errors.New("unknown plan"), "project %s has plan %q, which is not in the plan table", a.t.pr.Slug, a.t.pr.Plan)
	}
	if err := a.p.allow(ctx, "magic:"+a.t.pr.ID.String(), 1, int64(plan.MagicLinksPerDay), 24*time.Hour, "magic-link emails"); err != nil {
		return 0, err
	}
	var pend *authn.Pending
	if err := a.with(ctx, func(u *authn.Tenant) (err error) { pend, err = u.RequestMagicLink(ctx, norm, name, redirect); return }); err != nil {
		return 0, err
	}
	a.p.mailLink("magic_link", &a.t.pr, pend, a.p.authLink(a.t.pr.Slug, "verify", pend.Token, redirect))
	return a.p.auth.MagicLinkTTL(), nil
}

// Users lists users, newest first.
func (a *Auth) Users(ctx context.Context, o AuthList) (*AuthUserList, error) {
	var out *AuthUserList
	err := a.with(ctx, func(u *authn.Tenant) (err error) { out, err = u.Users(ctx, o); return })
	return out, err
}

// User returns one user.
func (a *Auth) User(ctx context.Context, id uuid.UUID) (*AuthUser, error) {
	var out *AuthUser
	err := a.with(ctx, func(u *authn.Tenant) (err error) { out, err = u.User(ctx, id); return })
	return out, err
}

// UpdateUser changes a user's name, avatar_url or metadata; Quota (402)
// "database_full" when the project's database is over its plan's size.
func (a *Auth) UpdateUser(ctx context.Context, id uuid.UUID, patch AuthPatch) (*AuthUser, error) {
	if err := a.checkRoom(ctx); err != nil {
		return nil, err
	}
	var out *AuthUser
	err := a.with(ctx, func(u *authn.Tenant) (err error) { out, err = u.UpdateUser(ctx, id, patch); return })
	return out, err
}

// checkRoom refuses writes that add data (a new user, a profile update)
// when the project's database is over its plan's size, as POST /sql does.
// Logins, password changes, resets and magic links still work: they change
// rows in place or add short-lived tokens, and refusing them would lock
// existing users out of a full project.
func (a *Auth) checkRoom(ctx context.Context) error {
	plan := a.p.cfg.Plans[a.t.pr.Plan]
	size, full, err := a.p.databaseFull(ctx, a.t, plan)
	if errors.Is(err, errs.ErrNotFound) {
		return notFound(a.slug)
	}
	if err != nil {
		return err
	}
	if full {
		return errs.New(errs.Quota, "database_full", "the database is over its plan's size limit (%s of %s): new users and profile updates are refused, sign-ins still work; delete data or upgrade the plan",
			kv.HumanBytes(size), kv.HumanBytes(plan.DatabaseBytes))
	}
	return nil
}

// DeleteUser deletes a user.
func (a *Auth) DeleteUser(ctx context.Context, id uuid.UUID) error {
	return a.with(ctx, func(u *authn.Tenant) error { return u.DeleteUser(ctx, id) })
}

// VerifyMagicLink redeems a magic link of project slug (no API key: the end
// user holds only the token) and returns where to send the user:
// redirect_url?user_id=...&verified=true&code=..., code being the one-time
// code the app exchanges for the user with Auth.ExchangeCode.
func (p *Platform) VerifyMagicLink(ctx context.Context, slug, token, redirect string) (string, *AuthUser, error) {
	a, err := p.authFor(ctx, uuid.Nil, slug)
	if err != nil {
		return "", nil, err
	}
	var (
		to  string
		out *AuthUser
	)
	err = a.with(ctx, func(u *authn.Tenant) (err error) { out, to, err = u.VerifyMagicLink(ctx, token, redirect); return })
	return to, out, err
}

// ExchangeCode redeems the one-time code that a magic link's redirect
// carries (redirect_url?user_id=...&verified=true&code=...) and returns the
// user it was issued for. The app's server calls it with its API key before
// it starts a session: user_id in the redirect proves nothing, the code
// does. The code works once, for Config.Auth.ExchangeCodeTTL (5 minutes by
// default), in the project that issued it; any other code is Unauthorized
// "invalid_code".
func (a *Auth) ExchangeCode(ctx context.Context, code string) (*AuthUser, error) {
	var out *AuthUser
	err := a.with(ctx, func(u *authn.Tenant) (err error) { out, err = u.ExchangeCode(ctx, code); return })
	return out, err
}

// CheckPasswordReset checks a reset link of project slug without using it
// and returns where to send the user: redirect_url?token=..., the project's
// page that asks for the new password and calls ConfirmPasswordReset.
func (p *Platform) CheckPasswordReset(ctx context.Context, slug, token, redirect string) (string, error) {
	a, err := p.authFor(ctx, uuid.Nil, slug)
	if err != nil {
		return "", err
	}
	var to string
	err = a.with(ctx, func(u *authn.Tenant) (err error) { to, err = u.CheckReset(ctx, token, redirect); return })
	return to, err
}

// ConfirmPasswordReset redeems a reset token of project slug and sets the
// user's password (no API key).
func (p *Platform) ConfirmPasswordReset(ctx context.Context, slug, token, password string) (*AuthUser, error) {
	a, err := p.authFor(ctx, uuid.Nil, slug)
	if err != nil {
		return nil, err
	}
	var out *AuthUser
	err = a.with(ctx, func(u *authn.Tenant) (err error) { out, err = u.ConfirmReset(ctx, token, password); return })
	return out, err
}

func (a *Auth) checkEmailRedirect(email, redirectURL string) (string, string, error) {
	norm, err := authn.NormalizeEmail(email)
	if err != nil {
		return "", "", err
	}
	redirect, err := authn.ResolveRedirect(redirectURL, a.p.SiteURL(a.t.pr.Slug))
	if err != nil {
		return "", "", err
	}
	return norm, redirect, nil
}

// throttle counts one request per client IP and per email address.
func (a *Auth) throttle(ctx context.Context, action, email, ip string, perEmail, perIP int, what string) error {
	w := a.p.cfg.AuthLimits.Window
	prefix := "auth:" + action + ":" + a.t.pr.ID.String() + ":"
	if ip != "" && perIP >= 0 {
		if err := a.p.throttle(ctx, prefix+"ip:"+ip, perIP, w, what+" from this address"); err != nil {
			return err
		}
	}
	if perEmail >= 0 {
		if norm, err := authn.NormalizeEmail(email); err == nil {
			h := sha256.Sum256([]byte(strings.ToLower(norm)))
			if err := a.p.throttle(ctx, prefix+"email:"+hex.EncodeToString(h[:12]), perEmail, w, what+" for this email"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *Platform) throttle(ctx context.Context, key string, limit int, window time.Duration, what string) error {
	d, err := p.cfg.Limiter.Allow(ctx, key, 1, int64(limit), window)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "limiter_unavailable", "the rate limiter is unavailable")
	}
	if !d.Allowed {
		return &errs.Error{Kind: errs.RateLimited, Code: "rate_limited", RetryAfter: d.RetryAfter,
			Detail: "too many " + what + " (at most " + strconv.Itoa(limit) + " per " + humanWindow(window) + "); try again in " + d.RetryAfter.Round(time.Second).String()}
	}
	return nil
}

func humanWindow(w time.Duration) string {
	switch {
	case w%time.Hour == 0:
		return strconv.Itoa(int(w/time.Hour)) + " hour(s)"
	case w%time.Minute == 0:
		return strconv.Itoa(int(w/time.Minute)) + " minutes"
	}
	return w.String()
}

// authLink is the platform link of an auth email:
// {AuthLinkBase}/{slug}/auth/{route}?token=...&redirect=...
func (p *Platform) authLink(slug, route, token, redirect string) string {
	return p.cfg.AuthLinkBase + "/" + slug + "/auth/" + route + "?token=" + url.QueryEscape(token) + "&redirect=" + url.QueryEscape(redirect)
}

// mailLink sends an auth email in the background, so that the answer and
// its timing do not depend on the mail server (nor on whether the address
// has an account). A failure is logged, without the link.
func (p *Platform) mailLink(kind string, pr *Project, pend *authn.Pending, link string) {
	m := authn.LinkMessage(kind, pr.Name, pend.Email, pend.Name, link, pend.TTL)
	slug := pr.Slug
	p.mailWG.Add(1)
	go func() {
		defer p.mailWG.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		select {
		case p.authMail <- struct{}{}:
		case <-ctx.Done():
			p.log.Error("auth email dropped: too many emails waiting for the mail server", "project", slug, "kind", kind)
			return
		}
		defer func() { <-p.authMail }()
		if err := p.cfg.Mailer.Send(ctx, m); err != nil {
			p.log.Error("could not send an auth email", "project", slug, "kind", kind, "err", err)
			return
		}
		p.log.Debug("auth email sent", "project", slug, "kind", kind)
	}()
}

// waitMail waits, at most d, for the auth emails still being sent (Close).
func (p *Platform) waitMail(d time.Duration) {
	done := make(chan struct{})
	go func() {
		p.mailWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		p.log.Warn("closing with auth emails still being sent; they may be lost")
	}
}
