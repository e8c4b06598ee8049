package httpapi

import (
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
)

// authRoutes are the end-user auth routes of the API reference (section 7).
// verify and reset-password/confirm need no API key: the end user holds
// only the token from the email.
func (h *Handler) authRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/{slug}/auth/signup", Auth: true, Description: `Register a user: {"email", "password" (8–256 characters), "name?", "metadata?"} → 201 {"success", "user"}; 409 if the email is taken`, In: AuthSignupRequest{}, Out: AuthUserResponse{}, Status: http.StatusCreated, handle: h.authSignup},
		{Method: "POST", Path: "/{slug}/auth/login", Auth: true, Description: `Log a user in: {"email", "password"} → {"success", "user"}; 401 on bad credentials`, In: AuthLoginRequest{}, Out: AuthUserResponse{}, handle: h.authLogin},
		{Method: "POST", Path: "/{slug}/auth/change-password", Auth: true, Description: `{"user_id", "current_password", "new_password"} → {"success", "user"}`, In: AuthChangePasswordRequest{}, Out: AuthUserResponse{}, handle: h.authChangePassword},
		{Method: "POST", Path: "/{slug}/auth/set-password", Auth: true, Description: `Admin set: {"user_id", "password"} → {"success", "user"}`, In: AuthSetPasswordRequest{}, Out: AuthUserResponse{}, handle: h.authSetPassword},
		{Method: "POST", Path: "/{slug}/auth/reset-password", Auth: true, Description: `Email a reset link: {"email", "redirect_url?"} → {"success", "sent", "expires_in_minutes"} (the same whether or not the email has an account)`, In: AuthResetRequest{}, Out: AuthSentResponse{}, handle: h.authResetPassword},
		{Method: "GET", Path: "/{slug}/auth/reset-password/confirm", Description: "Check a reset link (?token=&redirect=) and redirect (302) to redirect_url?token=... (no API key)", Out: RawBody{ContentType: "text/plain"}, Status: http.StatusFound, handle: h.authResetCheck},
		{Method: "POST", Path: "/{slug}/auth/reset-password/confirm", Description: `Complete a reset: {"token", "new_password"} → {"success", "user"} (no API key)`, In: AuthConfirmRequest{}, Out: AuthUserResponse{}, handle: h.authResetConfirm},
		{Method: "POST", Path: "/{slug}/auth/send-magic-link", Auth: true, Description: `Email a sign-in link: {"email", "redirect_url?", "name?"} → {"sent": true, "expires_in_minutes": 15}`, In: AuthMagicLinkRequest{}, Out: AuthSentResponse{}, handle: h.authMagicLink},
		{Method: "GET", Path: "/{slug}/auth/verify", Description: "Follow a magic link (?token=&redirect=): 302 to redirect_url?user_id=...&verified=true&code=... (no API key); user_id proves nothing until the app exchanges code (POST /{slug}/auth/exchange)", Out: RawBody{ContentType: "text/plain"}, Status: http.StatusFound, handle: h.authVerify},
		{Method: "POST", Path: "/{slug}/auth/exchange", Auth: true, Description: `Exchange the code from the magic-link redirect for the user, server to server: {"code"} → {"success", "user"}; the code works once, for 5 minutes by default; 401 "invalid_code" for a used, expired, unknown or other project's code`, In: AuthExchangeRequest{}, Out: AuthUserResponse{}, handle: h.authExchange},
		{Method: "GET", Path: "/{slug}/auth/users", Auth: true, Description: "List users: ?limit= (default 50, max 1000) &offset= &verified_only= → {\"users\", \"total\", \"limit\", \"offset\"}", Out: mosaic.AuthUserList{}, handle: h.authUsers},
		{Method: "GET", Path: "/{slug}/auth/users/{id}", Auth: true, Description: `Get a user → {"user"}`, Out: AuthGetUserResponse{}, handle: h.authUser},
		{Method: "PATCH", Path: "/{slug}/auth/users/{id}", Auth: true, Description: `Update a user: {"name?", "metadata?", "avatar_url?"} → {"success", "user"}`, In: AuthPatchRequest{}, Out: AuthUserResponse{}, handle: h.authUpdateUser},
		{Method: "DELETE", Path: "/{slug}/auth/users/{id}", Auth: true, Description: `Delete a user → {"success", "deleted"}`, Out: AuthDeleteResponse{}, handle: h.authDeleteUser},
		{Method: "POST", Path: "/{slug}/auth/init", Auth: true, Description: `Create or upgrade the auth tables (also automatic) → {"success", "version", "applied", "tables"}`, Out: AuthInitResponse{}, handle: h.authInit},
	}
}

// AuthSignupRequest is the body of POST /{slug}/auth/signup.
type AuthSignupRequest struct {
	Email    string          `json:"email"`
	Password string          `json:"password"`
	Name     *string         `json:"name"`
	Metadata json.RawMessage `json:"metadata"`
}

// AuthLoginRequest is the body of POST /{slug}/auth/login.
type AuthLoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// AuthChangePasswordRequest is the body of POST /{slug}/auth/change-password.
type AuthChangePasswordRequest struct {
	UserID          string `json:"user_id"`
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// AuthSetPasswordRequest is the body of POST /{slug}/auth/set-password.
type AuthSetPasswordRequest struct {
	UserID   string `json:"user_id"`
	Password string `json:"password"`
}

// AuthResetRequest is the body of POST /{slug}/auth/reset-password.
// redirect_url is an absolute http(s) URL or a path on the project's site
// (default: the site's root); see authn.ResolveRedirect.
type AuthResetRequest struct {
	Email       string `json:"email"`
	RedirectURL string `json:"redirect_url"`
}

// AuthMagicLinkRequest is the body of POST /{slug}/auth/send-magic-link
// (redirect_url as in AuthResetRequest).
type AuthMagicLinkRequest struct {
	Email       string  `json:"email"`
	RedirectURL string  `json:"redirect_url"`
	Name        *string `json:"name"`
}

// AuthExchangeRequest is the body of POST /{slug}/auth/exchange: the code
// parameter of the magic-link redirect.
type AuthExchangeRequest struct {
	Code string `json:"code"`
}

// AuthConfirmRequest is the body of POST /{slug}/auth/reset-password/confirm.
type AuthConfirmRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

// AuthPatchRequest is the body of PATCH /{slug}/auth/users/{id}: absent or
// null fields are left alone, "" clears name or avatar_url, and metadata
// replaces the whole object.
type AuthPatchRequest struct {
	Name      *string         `json:"name"`
	AvatarURL *string         `json:"avatar_url"`
	Metadata  json.RawMessage `json:"metadata"`
}

// AuthGetUserResponse is the body of GET /{slug}/auth/users/{id}.
type AuthGetUserResponse struct {
	User *mosaic.AuthUser `json:"user"`
}

// AuthUserResponse is the body of signup, login, the password routes and
// the user routes.
type AuthUserResponse struct {
	Success bool             `json:"success"`
	User    *mosaic.AuthUser `json:"user"`
}

// AuthSentResponse is the body of reset-password and send-magic-link.
type AuthSentResponse struct {
	Success          bool   `json:"success"`
	Sent             bool   `json:"sent"`
	ExpiresInMinutes int    `json:"expires_in_minutes"`
	Message          string `json:"message"`
}

// AuthDeleteResponse is the body of DELETE /{slug}/auth/users/{id}.
type AuthDeleteResponse struct {
	Success bool      `json:"success"`
	Deleted bool      `json:"deleted"`
	UserID  uuid.UUID `json:"user_id"`
}

// AuthInitResponse is the body of POST /{slug}/auth/init.
type AuthInitResponse struct {
	Success bool     `json:"success"`
	Version int      `json:"version"`
	Applied []int    `json:"applied"`
	Tables  []string `json:"tables"`
}

func (h *Handler) auth(r *http.Request) (*mosaic.Auth, error) {
	return h.p.Auth(r.Context(), principal(r).Account.ID, r.PathValue("slug"))
}

// authWith is auth for a route with a JSON body, which it decodes into in.
func (h *Handler) authWith(r *http.Request, in any) (*mosaic.Auth, error) {
	a, err := h.auth(r)
	if err != nil {
		return nil, err
	}
	if err := decodeJSON(r, in); err != nil {
		return nil, err
	}
	return a, nil
}

// clientIP is the connection's peer address, the key of the per-IP throttles.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func bodyUserID(s string) (uuid.UUID, error) {
	if s == "" {
		return uuid.Nil, errs.New(errs.Invalid, "invalid_user_id", "user_id is required")
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, errs.New(errs.Invalid, "invalid_user_id", "user_id must be a UUID")
	}
	return id, nil
}

func pathUserID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return uuid.Nil, errs.New(errs.NotFound, "user_not_found", "no such user")
	}
	return id, nil
}

func minutes(d time.Duration) int { return int(d.Round(time.Minute) / time.Minute) }

func (h *Handler) authSignup(w http.ResponseWriter, r *http.Request) error {
	var in AuthSignupRequest
	a, err := h.authWith(r, &in)
	if err != nil {
		return err
	}
	u, err := a.Signup(r.Context(), mosaic.AuthNewUser{Email: in.Email, Password: in.Password, Name: in.Name, Metadata: in.Metadata})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, AuthUserResponse{Success: true, User: u})
	return nil
}

func (h *Handler) authLogin(w http.ResponseWriter, r *http.Request) error {
	var in AuthLoginRequest
	a, err := h.authWith(r, &in)
	if err != nil {
		return err
	}
	u, err := a.Login(r.Context(), in.Email, in.Password, clientIP(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthUserResponse{Success: true, User: u})
	return nil
}

func (h *Handler) authChangePassword(w http.ResponseWriter, r *http.Request) error {
	var in AuthChangePasswordRequest
	a, err := h.authWith(r, &in)
	if err != nil {
		return err
	}
	id, err := bodyUserID(in.UserID)
	if err != nil {
		return err
	}
	u, err := a.ChangePassword(r.Context(), id, in.CurrentPassword, in.NewPassword)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthUserResponse{Success: true, User: u})
	return nil
}

func (h *Handler) authSetPassword(w http.ResponseWriter, r *http.Request) error {
	var in AuthSetPasswordRequest
	a, err := h.authWith(r, &in)
	if err != nil {
		return err
	}
	id, err := bodyUserID(in.UserID)
	if err != nil {
		return err
	}
	u, err := a.SetPassword(r.Context(), id, in.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthUserResponse{Success: true, User: u})
	return nil
}

func (h *Handler) authResetPassword(w http.ResponseWriter, r *http.Request) error {
	var in AuthResetRequest
	a, err := h.authWith(r, &in)
	if err != nil {
		return err
	}
	ttl, err := a.SendPasswordReset(r.Context(), in.Email, in.RedirectURL, clientIP(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthSentResponse{Success: true, Sent: true, ExpiresInMinutes: minutes(ttl),
		Message: "If an account exists for this email, a password-reset link has been sent to it."})
	return nil
}

func (h *Handler) authMagicLink(w http.ResponseWriter, r *http.Request) error {
	var in AuthMagicLinkRequest
	a, err := h.authWith(r, &in)
	if err != nil {
		return err
	}
	ttl, err := a.SendMagicLink(r.Context(), in.Email, in.RedirectURL, in.Name, clientIP(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthSentResponse{Success: true, Sent: true, ExpiresInMinutes: minutes(ttl),
		Message: "Magic link sent! Check your email."})
	return nil
}

// redirect answers 302 with no body (the Location may carry a reset token)
// and keeps the page out of caches and Referer headers.
func redirect(w http.ResponseWriter, to string) {
	w.Header().Set("Location", to)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusFound)
}

// browserError answers a failed link: a small HTML page for a browser, the
// usual JSON otherwise.
func (h *Handler) browserError(w http.ResponseWriter, r *http.Request, err error) error {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return err
	}
	e := errs.As(err)
	if e.Kind == errs.Internal {
		return err // logged and worded by writeError
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
	}
	w.WriteHeader(e.Kind.Status())
	linkPage.Execute(w, struct{ Detail, Code string }{e.Detail, e.ErrorCode()})
	return nil
}

var linkPage = template.Must(template.New("link").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Link not valid</title></head>
<body style="font-family: sans-serif; max-width: 560px; margin: 48px auto; color: #222">
<h2>This link cannot be used</h2><p>{{.Detail}}</p><p style="color: #777; font-size: 13px">{{.Code}}</p>
</body></html>
`))

func (h *Handler) authVerify(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead {
		// A HEAD (a mail scanner probing the link) never uses the link up.
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	q := r.URL.Query()
	to, _, err := h.p.VerifyMagicLink(r.Context(), r.PathValue("slug"), q.Get("token"), q.Get("redirect"))
	if err != nil {
		return h.browserError(w, r, err)
	}
	redirect(w, to)
	return nil
}

func (h *Handler) authExchange(w http.ResponseWriter, r *http.Request) error {
	var in AuthExchangeRequest
	a, err := h.authWith(r, &in)
	if err != nil {
		return err
	}
	u, err := a.ExchangeCode(r.Context(), in.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthUserResponse{Success: true, User: u})
	return nil
}

func (h *Handler) authResetCheck(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	to, err := h.p.CheckPasswordReset(r.Context(), r.PathValue("slug"), q.Get("token"), q.Get("redirect"))
	if err != nil {
		return h.browserError(w, r, err)
	}
	redirect(w, to)
	return nil
}

func (h *Handler) authResetConfirm(w http.ResponseWriter, r *http.Request) error {
	var in AuthConfirmRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Token == "" {
		return errs.New(errs.Invalid, "invalid_token", "token is required")
	}
	u, err := h.p.ConfirmPasswordReset(r.Context(), r.PathValue("slug"), in.Token, in.NewPassword)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthUserResponse{Success: true, User: u})
	return nil
}

func (h *Handler) authUsers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var o mosaic.AuthList
	num := func(name string, dst *int) error {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errs.New(errs.Invalid, "invalid_"+name, "%s must be a whole number", name)
			}
			*dst = n
		}
		return nil
	}
	if err := num("limit", &o.Limit); err != nil {
		return err
	}
	if q.Get("limit") != "" && o.Limit == 0 {
		return errs.New(errs.Invalid, "invalid_limit", "limit must be between 1 and 1000")
	}
	if err := num("offset", &o.Offset); err != nil {
		return err
	}
	if v := q.Get("verified_only"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errs.New(errs.Invalid, "invalid_verified_only", "verified_only must be true or false")
		}
		o.VerifiedOnly = b
	}
	a, err := h.auth(r)
	if err != nil {
		return err
	}
	l, err := a.Users(r.Context(), o)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (h *Handler) authUser(w http.ResponseWriter, r *http.Request) error {
	a, err := h.auth(r)
	if err != nil {
		return err
	}
	id, err := pathUserID(r)
	if err != nil {
		return err
	}
	u, err := a.User(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthGetUserResponse{User: u})
	return nil
}

func (h *Handler) authUpdateUser(w http.ResponseWriter, r *http.Request) error {
	a, err := h.auth(r)
	if err != nil {
		return err
	}
	id, err := pathUserID(r)
	if err != nil {
		return err
	}
	var in AuthPatchRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	u, err := a.UpdateUser(r.Context(), id, mosaic.AuthPatch{Name: in.Name, AvatarURL: in.AvatarURL, Metadata: in.Metadata})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthUserResponse{Success: true, User: u})
	return nil
}

func (h *Handler) authDeleteUser(w http.ResponseWriter, r *http.Request) error {
	a, err := h.auth(r)
	if err != nil {
		return err
	}
	id, err := pathUserID(r)
	if err != nil {
		return err
	}
	if err := a.DeleteUser(r.Context(), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthDeleteResponse{Success: true, Deleted: true, UserID: id})
	return nil
}

func (h *Handler) authInit(w http.ResponseWriter, r *http.Request) error {
	a, err := h.auth(r)
	if err != nil {
		return err
	}
	res, err := a.Init(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, AuthInitResponse{Success: true, Version: res.Version, Applied: res.Applied, Tables: res.Tables})
	return nil
}
