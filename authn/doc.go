// Package authn is end-user auth for a Mosaic project: users with
// passwords, password-reset links and magic links, kept in the project's own
// PostgreSQL database so the project can join them with its tables.
//
// A Service holds what every tenant shares (hashing parameters, a bound on
// concurrent hashes, the clock); Service.For gives the auth of one tenant
// database through a pool that connects as the tenant's own role:
//
//	svc, _ := authn.New(authn.Config{})
//	users := svc.For(tenantPool)
//	u, err := users.Signup(ctx, authn.NewUser{Email: "ada@example.com", Password: "correct horse"})
//
// # Tables
//
// public.auth_users and public.auth_tokens are created on first use (and by
// Init), by versioned migrations recorded in public.auth_schema_migrations,
// under a transaction-level advisory lock, so concurrent first calls from
// any number of processes create them once. They are the tenant's tables:
// the package touches them only through the tenant's role, schema-qualifies
// every name and pins search_path (pg_catalog first) where it runs DDL, so
// a tenant's functions or temporary tables cannot stand in for them. A table
// the tenant drops is made again on the next call. Users can be imported by
// inserting rows with a bcrypt hash ($2a$/$2b$/$2y$) in password_hash.
//
// # Secrets
//
// Passwords are hashed with argon2id (DefaultParams: m=19 MiB, t=2, p=1,
// OWASP's), stored as a PHC string with the parameters, so raising them
// upgrades each hash at the user's next login; bcrypt hashes verify and are
// upgraded likewise. At most Config.MaxConcurrentHashes hashes run at once
// (default GOMAXPROCS), so memory stays bounded under a login flood. A login
// for an unknown email verifies the password against a dummy hash and fails
// exactly like a wrong password. Passwords are 8 to 256 characters and never
// truncated.
//
// Reset and magic-link tokens, and exchange codes, are 256 bits from
// crypto/rand, base64url (43 characters). Only their SHA-256 is stored; a
// token is looked up by that hash (so no comparison of secrets happens in
// Go, and timing reveals nothing about a token), used once (an atomic DELETE
// ... RETURNING), expires (magic link 15 minutes, reset 1 hour, exchange
// code 5 minutes; configurable) and dies when the user's password changes.
// Users, answers and log lines never carry a hash or a token (LogMailer
// excepted: it is the development stand-in for an inbox).
//
// # Magic-link sign-in and the exchange code
//
// The API reference's redirect, redirect_url?user_id=...&verified=true,
// proves nothing: anyone who knows a user id can type it. So VerifyMagicLink
// also puts a one-time exchange code in it (&code=..., a token like the
// others, stored as its SHA-256 with purpose "exchange", bound to the user
// in the project's own database, 5 minutes by default:
// Config.ExchangeCodeTTL). The flow:
//
//  1. The app's server asks for a link (send-magic-link) for the email.
//  2. The user opens it: GET /{slug}/auth/verify uses the link up and
//     answers 302 to redirect_url?user_id=...&verified=true&code=....
//  3. The app's server exchanges the code, server to server and with its
//     API key (POST /{slug}/auth/exchange {"code"}, ExchangeCode), for the
//     user, and only then starts its own session for that user. It should
//     then redirect to a URL without the code.
//
// ExchangeCode deletes the code in the statement that reads it, so it works
// once even under concurrent calls; an unknown, used, expired, malformed or
// other project's code gives one error, Unauthorized "invalid_code". A
// password reset needs no code: its confirm step already takes the token.
//
// # Emails and redirects
//
// Emails are trimmed, their domain lower-cased, and matched without regard
// to case (see NormalizeEmail). Redirect URLs follow ResolveRedirect: an
// absolute http(s) URL, or a path on the project's site; the resolved URL is
// stored with the token and is the only place its link can lead.
//
// Mail goes through a Mailer: NewSMTP for a real server, LogMailer by
// default. LinkMessage composes the branded messages ("Sign in to {project}").
package authn
