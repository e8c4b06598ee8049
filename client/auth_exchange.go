package client

import "context"

// ExchangeCode calls POST exchange: it redeems the one-time code that a
// magic link's redirect carries (redirect_url?user_id=...&verified=true&code=...)
// and returns the user it was issued for. Call it from the app's server,
// with the API key, before starting a session: the redirect's user_id
// proves nothing by itself. The code works once and expires (5 minutes by
// default); a used, expired, unknown or other project's code is 401
// "invalid_code".
func (a *Auth) ExchangeCode(ctx context.Context, code string) (*AuthUser, error) {
	return a.user(ctx, "exchange", map[string]string{"code": code})
}
