package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/errs"
)

// App is a small todo service whose backend is a Mosaic project: its
// users are the project's end users (auth), its todos a table in the
// project's database (SQL). It talks to the platform only through the Go
// client, over HTTP, as a separately deployed app would.
type App struct {
	api     *client.Client
	slug    string
	secret  []byte // signs the session cookie
	baseURL string // where the app is reachable: magic links send users back here
}

// NewApp returns the app of project slug. baseURL is the app's own public
// URL; secret signs its session cookies.
func NewApp(api *client.Client, slug, baseURL string, secret []byte) *App {
	return &App{api: api, slug: slug, baseURL: strings.TrimRight(baseURL, "/"), secret: secret}
}

// Init creates the app's table in the project's database; it can run at
// every start.
func (a *App) Init(ctx context.Context) error {
	_, err := a.api.SQL(ctx, a.slug, `CREATE TABLE IF NOT EXISTS todos (
		id bigserial PRIMARY KEY,
		owner uuid NOT NULL,
		title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
		done boolean NOT NULL DEFAULT false,
		created_at timestamptz NOT NULL DEFAULT now()
	)`)
	return err
}

// Todo is one item of a user's list.
type Todo struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

// Handler serves the app's routes:
//
//	POST /signup       {"email","password"}  → 201 {"user_id"}
//	POST /login        {"email","password"}  → 200 {"user_id"} and the session cookie
//	POST /login/email  {"email"}             → 202; a sign-in link is emailed
//	GET  /welcome      where the link lands (?user_id=...&verified=true&code=...); opens the session
//	GET  /todos        the session's todos
//	POST /todos        {"title"}             → 201 the new todo
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /signup", a.signup)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /login/email", a.emailLink)
	mux.HandleFunc("GET /welcome", a.welcome)
	mux.HandleFunc("GET /todos", a.listTodos)
	mux.HandleFunc("POST /todos", a.addTodo)
	return mux
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (a *App) signup(w http.ResponseWriter, r *http.Request) {
	var in credentials
	if !decode(w, r, &in) {
		return
	}
	u, err := a.api.Auth(a.slug).Signup(r.Context(), client.SignupRequest{Email: in.Email, Password: in.Password})
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, http.StatusCreated, map[string]string{"user_id": u.ID.String()})
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	var in credentials
	if !decode(w, r, &in) {
		return
	}
	u, err := a.api.Auth(a.slug).Login(r.Context(), in.Email, in.Password)
	if err != nil {
		fail(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "session", Value: a.sign(u.ID), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	reply(w, http.StatusOK, map[string]string{"user_id": u.ID.String()})
}

func (a *App) emailLink(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email"`
	}
	if !decode(w, r, &in) {
		return
	}
	if _, err := a.api.Auth(a.slug).SendMagicLink(r.Context(), in.Email, a.baseURL+"/welcome", ""); err != nil {
		fail(w, err)
		return
	}
	reply(w, http.StatusAccepted, map[string]string{"detail": "check your email"})
}

// welcome is where a magic link lands. Anyone can type
// ?user_id=...&verified=true, so the app trusts only the one-time code: it
// exchanges it, server to server, for the user the platform verified, and
// opens the session for that user.
func (a *App) welcome(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	if code == "" {
		http.Error(w, "this page is reached through a sign-in link", http.StatusBadRequest)
		return
	}
	u, err := a.api.Auth(a.slug).ExchangeCode(r.Context(), code)
	if err != nil {
		fail(w, err) // 401 invalid_code: used, expired or forged
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "session", Value: a.sign(u.ID), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Referrer-Policy", "no-referrer") // the used code stays in this page's URL
	state := "not verified"
	if u.EmailVerified {
		state = "verified"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<p>Welcome, %s (email %s)</p>\n", html.EscapeString(u.Email), state)
}

func (a *App) listTodos(w http.ResponseWriter, r *http.Request) {
	uid, ok := a.session(w, r)
	if !ok {
		return
	}
	res, err := a.api.SQL(r.Context(), a.slug, `SELECT id, title, done FROM todos WHERE owner = $1 ORDER BY id`, uid.String())
	if err != nil {
		fail(w, err)
		return
	}
	todos := []Todo{}
	if err := json.Unmarshal(res.Rows, &todos); err != nil {
		fail(w, err)
		return
	}
	reply(w, http.StatusOK, todos)
}

func (a *App) addTodo(w http.ResponseWriter, r *http.Request) {
	uid, ok := a.session(w, r)
	if !ok {
		return
	}
	var in struct {
		Title string `json:"title"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Title = strings.TrimSpace(in.Title); in.Title == "" || len(in.Title) > 200 {
		reply(w, http.StatusBadRequest, map[string]string{"error": "invalid_title", "detail": "title must be 1 to 200 characters"})
		return
	}
	res, err := a.api.SQL(r.Context(), a.slug, `INSERT INTO todos (owner, title) VALUES ($1, $2) RETURNING id, title, done`, uid.String(), in.Title)
	if err != nil {
		fail(w, err)
		return
	}
	var todos []Todo
	if err := json.Unmarshal(res.Rows, &todos); err != nil || len(todos) != 1 {
		fail(w, fmt.Errorf("insert returned %s: %v", res.Rows, err))
		return
	}
	reply(w, http.StatusCreated, todos[0])
}

// sign makes the session cookie's value: the user id and its MAC.
func (a *App) sign(id uuid.UUID) string {
	m := hmac.New(sha256.New, a.secret)
	m.Write(id[:])
	return id.String() + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// session returns the user of the request's session cookie, or answers 401.
func (a *App) session(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	if c, err := r.Cookie("session"); err == nil {
		if idStr, _, ok := strings.Cut(c.Value, "."); ok {
			if id, err := uuid.Parse(idStr); err == nil && hmac.Equal([]byte(a.sign(id)), []byte(c.Value)) {
				return id, true
			}
		}
	}
	reply(w, http.StatusUnauthorized, map[string]string{"error": "login_required", "detail": "log in first"})
	return uuid.Nil, false
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(v); err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"error": "invalid_json", "detail": "the body must be a JSON object"})
		return false
	}
	return true
}

// fail passes the platform's error on with its status (a bad password is
// the user's 400, wrong credentials their 401); anything else is the app's
// 500.
func fail(w http.ResponseWriter, err error) {
	var e *errs.Error
	if errors.As(err, &e) && e.Kind != errs.Internal && e.Kind != errs.Unavailable {
		reply(w, e.Kind.Status(), map[string]string{"error": e.Code, "detail": e.Detail})
		return
	}
	reply(w, http.StatusInternalServerError, map[string]string{"error": "internal", "detail": "something went wrong"})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
