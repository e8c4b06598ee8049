package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// One set of services (PostgreSQL, Redis, MinIO, SMTP...) for the whole
// test binary, stopped at the end.
func TestMain(m *testing.M) { mosaictest.Main(m) }

// startApp runs the app on a fresh platform and project, as in production:
// over HTTP, with the platform's Go client and an API key.
func startApp(t *testing.T) (*mosaictest.Env, *mosaic.CreatedProject, string) {
	t.Helper()
	env := mosaictest.New(t)
	p := env.Project(t)
	srv := httptest.NewUnstartedServer(nil)
	app := NewApp(env.Client, p.Slug, "http://"+srv.Listener.Addr().String(), []byte("test-secret-test-secret-test-secret"))
	if err := app.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = app.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return env, p, srv.URL
}

// browser is an HTTP client with its own cookies, as one user's browser.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// call sends a JSON body (nil for none) and decodes a JSON answer into out.
func call(t *testing.T, c *http.Client, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

type apiError struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

func signupAndLogin(t *testing.T, c *http.Client, app, email string) string {
	t.Helper()
	cred := `{"email":"` + email + `","password":"correct horse battery"}`
	var up, in struct {
		UserID string `json:"user_id"`
	}
	if st := call(t, c, "POST", app+"/signup", cred, &up); st != http.StatusCreated {
		t.Fatalf("signup %s: %d", email, st)
	}
	if st := call(t, c, "POST", app+"/login", cred, &in); st != http.StatusOK || in.UserID != up.UserID {
		t.Fatalf("login %s: %d, user %q, signed up as %q", email, st, in.UserID, up.UserID)
	}
	return up.UserID
}

func TestTodos(t *testing.T) {
	env, p, app := startApp(t)
	alice, bob := browser(t), browser(t)
	aliceID := signupAndLogin(t, alice, app, "alice@example.com")
	signupAndLogin(t, bob, app, "bob@example.com")

	for _, title := range []string{"buy milk", "write tests"} {
		var td Todo
		if st := call(t, alice, "POST", app+"/todos", `{"title":"`+title+`"}`, &td); st != http.StatusCreated || td.Title != title || td.ID == 0 {
			t.Fatalf("add %q: %d %+v", title, st, td)
		}
	}
	var list []Todo
	if st := call(t, alice, "GET", app+"/todos", "", &list); st != http.StatusOK || len(list) != 2 ||
		list[0].Title != "buy milk" || list[1].Title != "write tests" || list[0].Done {
		t.Fatalf("alice's todos: %d %+v", st, list)
	}
	// Bob has his own list; without a session there is none.
	if st := call(t, bob, "GET", app+"/todos", "", &list); st != http.StatusOK || len(list) != 0 {
		t.Errorf("bob's todos: %d %+v", st, list)
	}
	var e apiError
	if st := call(t, http.DefaultClient, "GET", app+"/todos", "", &e); st != http.StatusUnauthorized || e.Error != "login_required" {
		t.Errorf("no session: %d %+v", st, e)
	}

	// The rows are in the project's database, owned by Alice: look as the
	// platform sees them.
	res, err := env.Platform.SQL(context.Background(), env.Account.ID, p.Slug, `SELECT owner, title FROM todos ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct{ Owner, Title string }
	if err := json.Unmarshal(res.Rows, &rows); err != nil || len(rows) != 2 || rows[0].Owner != aliceID || rows[1].Title != "write tests" {
		t.Errorf("rows in the database: %s (%v)", res.Rows, err)
	}

	// Another account's key cannot reach this project's data.
	_, _, other := env.NewAccount(t)
	if _, err := other.SQL(context.Background(), p.Slug, `SELECT * FROM todos`); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("another account's SQL: %v, want not found", err)
	}
}

// The platform's errors reach the app's users with their status.
func TestAuthErrors(t *testing.T) {
	_, _, app := startApp(t)
	c := browser(t)
	var e apiError
	if st := call(t, c, "POST", app+"/signup", `{"email":"carol@example.com","password":"short"}`, &e); st != http.StatusBadRequest || e.Detail == "" {
		t.Errorf("short password: %d %+v", st, e)
	}
	signupAndLogin(t, c, app, "carol@example.com")
	if st := call(t, c, "POST", app+"/signup", `{"email":"carol@example.com","password":"another password"}`, &e); st != http.StatusConflict {
		t.Errorf("second signup: %d %+v", st, e)
	}
	if st := call(t, c, "POST", app+"/login", `{"email":"carol@example.com","password":"wrong password"}`, &e); st != http.StatusUnauthorized || e.Error != "invalid_credentials" {
		t.Errorf("wrong password: %d %+v", st, e)
	}
}

// A sign-in link goes out by email (to the Env's SMTP server) and, followed
// by the user's browser, passes through the platform back to the app.
func TestMagicLink(t *testing.T) {
	env, p, app := startApp(t)
	c := browser(t)
	if st := call(t, c, "POST", app+"/login/email", `{"email":"grace@example.com"}`, nil); st != http.StatusAccepted {
		t.Fatalf("ask for a link: %d", st)
	}
	m := env.WaitMail(t, "grace@example.com") // the email leaves in the background
	if m.Subject != "Sign in to "+p.Name {
		t.Errorf("subject %q", m.Subject)
	}
	var inbox []string
	for _, msg := range env.Mail() {
		inbox = append(inbox, strings.Join(msg.To, ",")+": "+msg.Subject)
	}
	if len(inbox) != 1 || inbox[0] != "grace@example.com: Sign in to "+p.Name {
		t.Errorf("delivered mail: %q", inbox)
	}
	link := ""
	for sc := bufio.NewScanner(strings.NewReader(m.Text)); sc.Scan(); {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, env.BaseURL+"/"+p.Slug+"/auth/verify?") {
			link = l
		}
	}
	if link == "" {
		t.Fatalf("no verify link in:\n%s", m.Text)
	}

	// The browser follows the link: the platform verifies it and redirects
	// to the app's welcome page.
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/welcome" || !strings.HasPrefix(resp.Request.URL.String(), app) ||
		!strings.Contains(string(page), "Welcome, grace@example.com (email verified)") {
		t.Fatalf("after the link: %d %s %q", resp.StatusCode, resp.Request.URL, page)
	}
	users, err := env.Client.Auth(p.Slug).Users(context.Background(), client.ListUsersOptions{})
	if err != nil || users.Total != 1 || users.Users[0].ID.String() != resp.Request.URL.Query().Get("user_id") || !users.Users[0].EmailVerified {
		t.Errorf("users after the link: %+v %v", users, err)
	}

	// The welcome page opened a session: the browser has a list now.
	landed := resp.Request.URL.String()
	var todos []Todo
	if st := call(t, c, "GET", app+"/todos", "", &todos); st != http.StatusOK {
		t.Errorf("todos after the link: %d", st)
	}
	// A forged welcome URL (a user id and verified=true, no code or a used
	// one) opens no session.
	forger := browser(t)
	for _, u := range []string{app + "/welcome?verified=true&user_id=" + users.Users[0].ID.String(), landed} {
		resp, err := forger.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("forged welcome %s: %d", u, resp.StatusCode)
		}
	}
	if st := call(t, forger, "GET", app+"/todos", "", nil); st != http.StatusUnauthorized {
		t.Errorf("the forger has a session: %d", st)
	}

	// The link works once.
	resp, err = c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("the link worked twice: %s", resp.Request.URL)
	}
}
