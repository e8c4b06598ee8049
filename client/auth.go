package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic/errs"
)

// Auth calls a project's end-user auth routes (/{slug}/auth/*). Get one
// with Client.Auth.
type Auth struct {
	c    *Client
	slug string
	base string
}

// Auth returns the end-user auth API of the project slug.
func (c *Client) Auth(slug string) *Auth {
	return &Auth{c: c, slug: slug, base: "/" + esc(slug) + "/auth/"}
}

// AuthUser is an end user as the API shows it (never with a password hash).
type AuthUser struct {
	ID            uuid.UUID       `json:"id"`
	Email         string          `json:"email"`
	Name          *string         `json:"name"`
	AvatarURL     *string         `json:"avatar_url"`
	Metadata      json.RawMessage `json:"metadata"`
	EmailVerified bool            `json:"email_verified"`
	VerifiedAt    *time.Time      `json:"verified_at"`
	HasPassword   bool            `json:"has_password"`
	LoginCount    int64           `json:"login_count"`
	LastLoginAt   *time.Time      `json:"last_login_at"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// AuthUserResponse is the answer of signup, login, the password routes and
// the user update.
type AuthUserResponse struct {
	Success bool      `json:"success"`
	User    *AuthUser `json:"user"`
}

// SignupRequest is the body of POST /{slug}/auth/signup.
type SignupRequest struct {
	Email    string          `json:"email"`
	Password string          `json:"password"`
	Name     string          `json:"name,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// AuthSent is the answer of reset-password and send-magic-link.
type AuthSent struct {
	Success          bool   `json:"success"`
	Sent             bool   `json:"sent"`
	ExpiresInMinutes int    `json:"expires_in_minutes"`
	Message          string `json:"message"`
}

// AuthUserList is the answer of GET /{slug}/auth/users.
type AuthUserList struct {
	Users  []AuthUser `json:"users"`
	Total  int64      `json:"total"`
	Limit  int        `json:"limit"`
	Offset int        `json:"offset"`
}

// ListUsersOptions are the query of GET /{slug}/auth/users (zero: the defaults).
type ListUsersOptions struct {
	Limit, Offset int
	VerifiedOnly  bool
}

// UserPatch is the body of PATCH /{slug}/auth/users/{id}: nil fields are
// left alone; "" clears name or avatar_url; Metadata replaces the object.
type UserPatch struct {
	Name      *string         `json:"name,omitempty"`
	AvatarURL *string         `json:"avatar_url,omitempty"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
}

// AuthInit is the answer of POST /{slug}/auth/init.
type AuthInit struct {
	Success bool     `json:"success"`
	Version int      `json:"version"`
	Applied []int    `json:"applied"`
	Tables  []string `json:"tables"`
}

func (a *Auth) post(ctx context.Context, route string, body, out any) error {
	return a.c.Do(ctx, http.MethodPost, a.base+route, body, out)
}

func (a *Auth) user(ctx context.Context, route string, body any) (*AuthUser, error) {
	var r AuthUserResponse
	if err := a.post(ctx, route, body, &r); err != nil {
		return nil, err
	}
	return r.User, nil
}

// Signup registers a user (400 for a password under 8 characters, 409 when the email is taken).
func (a *Auth) Signup(ctx context.Context, in SignupRequest) (*AuthUser, error) {
	return a.user(ctx, "signup", in)
}

// Login checks an email and password (401 "invalid_credentials" on any mismatch).
func (a *Auth) Login(ctx context.Context, email, password string) (*AuthUser, error) {
	return a.user(ctx, "login", map[string]string{"email": email, "password": password})
}

// ChangePassword replaces a user's password, given the current one.
func (a *Auth) ChangePassword(ctx context.Context, userID uuid.UUID, current, next string) (*AuthUser, error) {
	return a.user(ctx, "change-password", map[string]string{"user_id": userID.String(), "current_password": current, "new_password": next})
}

// SetPassword sets a user's password without the current one.
func (a *Auth) SetPassword(ctx context.Context, userID uuid.UUID, password string) (*AuthUser, error) {
	return a.user(ctx, "set-password", map[string]string{"user_id": userID.String(), "password": password})
}

// ResetPassword emails a reset link, if the email has an account (the
// answer is the same either way). redirectURL may be "" (the project's site).
func (a *Auth) ResetPassword(ctx context.Context, email, redirectURL string) (*AuthSent, error) {
	var r AuthSent
	return &r, a.post(ctx, "reset-password", map[string]string{"email": email, "redirect_url": redirectURL}, &r)
}

// SendMagicLink emails a sign-in link; name ("" for none) is given to a user it creates.
func (a *Auth) SendMagicLink(ctx context.Context, email, redirectURL, name string) (*AuthSent, error) {
	body := map[string]string{"email": email, "redirect_url": redirectURL}
	if name != "" {
		body["name"] = name
	}
	var r AuthSent
	return &r, a.post(ctx, "send-magic-link", body, &r)
}

// ConfirmReset completes a reset with the token from the email (no API key is needed).
func (a *Auth) ConfirmReset(ctx context.Context, token, newPassword string) (*AuthUser, error) {
	return a.user(ctx, "reset-password/confirm", map[string]string{"token": token, "new_password": newPassword})
}

// CheckReset calls GET reset-password/confirm and returns where it
// redirects (redirect_url?token=...) without following it.
func (a *Auth) CheckReset(ctx context.Context, token, redirect string) (string, error) {
	return a.follow(ctx, "reset-password/confirm", token, redirect)
}

// Verify calls GET verify, as a magic link does, and returns where it
// redirects (redirect_url?user_id=...&verified=true) without following it.
func (a *Auth) Verify(ctx context.Context, token, redirect string) (string, error) {
	return a.follow(ctx, "verify", token, redirect)
}

// follow makes one GET that answers 302 and returns its Location.
func (a *Auth) follow(ctx context.Context, route, token, redirect string) (string, error) {
	q := url.Values{"token": {token}}
	if redirect != "" {
		q.Set("redirect", redirect)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.c.base+a.base+route+"?"+q.Encode(), nil)
	if err != nil {
		return "", errs.Wrap(errs.Invalid, err, "invalid_request", "cannot build the request")
	}
	req.Header.Set("Accept", "application/json")
	hc := *a.c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return "", errs.Wrap(errs.Unavailable, err, "transport", "cannot reach the Mosaic API: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusFound {
		if resp.StatusCode/100 == 2 {
			return "", errs.New(errs.Internal, "bad_response", "the API answered %d, not a redirect", resp.StatusCode)
		}
		return "", decodeError(resp, data)
	}
	return resp.Header.Get("Location"), nil
}

// Users lists users, newest first.
func (a *Auth) Users(ctx context.Context, o ListUsersOptions) (*AuthUserList, error) {
	q := url.Values{}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Offset != 0 {
		q.Set("offset", strconv.Itoa(o.Offset))
	}
	if o.VerifiedOnly {
		q.Set("verified_only", "true")
	}
	path := a.base + "users"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var r AuthUserList
	return &r, a.c.Do(ctx, http.MethodGet, path, nil, &r)
}

// User returns one user.
func (a *Auth) User(ctx context.Context, id uuid.UUID) (*AuthUser, error) {
	var r struct {
		User *AuthUser `json:"user"`
	}
	if err := a.c.Do(ctx, http.MethodGet, a.base+"users/"+id.String(), nil, &r); err != nil {
		return nil, err
	}
	return r.User, nil
}

// UpdateUser changes a user's name, avatar_url or metadata.
func (a *Auth) UpdateUser(ctx context.Context, id uuid.UUID, p UserPatch) (*AuthUser, error) {
	var r AuthUserResponse
	if err := a.c.Do(ctx, http.MethodPatch, a.base+"users/"+id.String(), p, &r); err != nil {
		return nil, err
	}
	return r.User, nil
}

// DeleteUser deletes a user.
func (a *Auth) DeleteUser(ctx context.Context, id uuid.UUID) error {
	return a.c.Do(ctx, http.MethodDelete, a.base+"users/"+id.String(), nil, nil)
}

// Init creates or upgrades the project's auth tables.
func (a *Auth) Init(ctx context.Context) (*AuthInit, error) {
	var r AuthInit
	return &r, a.post(ctx, "init", nil, &r)
}
