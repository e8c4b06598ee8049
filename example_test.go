package mosaic_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// An application embeds the platform: it opens it on a PostgreSQL server,
// makes an account, and provisions a tenant database for it.
func Example() {
	ctx := context.Background()
	// Any PostgreSQL admin URL works; here the test harness provides one.
	env, err := mosaictest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()

	p, err := mosaic.New(ctx, mosaic.Config{
		DatabaseURL: env.DatabaseURL,
		SecretKey:   []byte("keep-this-secret-and-stable-32by"),
		PublicURL:   "https://api.example.com",
		Domain:      "example.site",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	acct, err := p.CreateAccount(ctx, "owner-"+env.Account.ID.String()[:8]+"@example.com", "Owner")
	if err != nil {
		log.Fatal(err)
	}
	cp, err := p.CreateProject(ctx, acct.ID, mosaic.NewProject{Name: "Todo App", Slug: "todo-" + env.Account.ID.String()[:8]})
	if err != nil {
		log.Fatal(err)
	}
	defer p.DeleteProject(ctx, acct.ID, cp.Slug)

	fmt.Println(cp.Status, cp.Plan, cp.Credentials.Database == mosaic.DatabaseName(cp.Slug))
	fmt.Println(p.SiteURL("todo") + " " + p.GitRepoURL("todo"))

	_, err = p.Project(ctx, acct.ID, "someone-elses")
	fmt.Println(errors.Is(err, mosaic.ErrNotFound))
	// Output:
	// active free true
	// https://todo.example.site https://api.example.com/git/todo.git
	// true
}

func ExampleValidateSlug() {
	for _, s := range []string{"my-app", "My App", "a--b", "tickets"} {
		fmt.Printf("%q: %v\n", s, mosaic.ValidateSlug(s))
	}
	// Output:
	// "my-app": <nil>
	// "My App": slug "My App" has "M" at position 1: use lowercase letters, digits and hyphens
	// "a--b": slug "a--b" must not contain consecutive hyphens
	// "tickets": slug "tickets" is reserved; choose another
}

// SQL runs a query in one of the owner's projects, as the project's own
// database role, with parameters ($1, $2...) passed separately.
func ExamplePlatform_SQL() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	p, owner := env.Platform, env.Account.ID
	cp, err := p.CreateProject(ctx, owner, mosaic.NewProject{Name: "Notes"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.DeleteProject(ctx, owner, cp.Slug)

	if _, err := p.SQL(ctx, owner, cp.Slug, `CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)`); err != nil {
		log.Fatal(err)
	}
	res, err := p.SQL(ctx, owner, cp.Slug, `INSERT INTO notes (body) VALUES ($1), ($2) RETURNING id`, "first", "second")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Command, res.RowCount, string(res.Rows))

	res, err = p.SQL(ctx, owner, cp.Slug, `SELECT body FROM notes WHERE id = $1`, 2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Columns, string(res.Rows))

	// The control database and other tenants' databases are out of reach.
	_, err = p.SQL(ctx, owner, cp.Slug, `SELECT count(*) FROM accounts`)
	fmt.Println(errors.Is(err, mosaic.ErrInvalid))
	// Output:
	// INSERT 2 [{"id":1},{"id":2}]
	// [body] [{"body":"second"}]
	// true
}

// KV is a project's key-value store, on the platform's Redis; each project
// sees only its own keys.
func ExamplePlatform_KV() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx) // with Redis: Config.KV is set
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	p, owner := env.Platform, env.Account.ID
	cp, err := p.CreateProject(ctx, owner, mosaic.NewProject{Name: "Cache", Plan: "pro"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.DeleteProject(ctx, owner, cp.Slug)

	kv, err := p.KV(ctx, owner, cp.Slug)
	if err != nil {
		log.Fatal(err)
	}
	if err := kv.Set(ctx, "greeting", "hello", time.Hour); err != nil {
		log.Fatal(err)
	}
	n, err := kv.Incr(ctx, "visits", 2, 0)
	if err != nil {
		log.Fatal(err)
	}
	v, ok, err := kv.Get(ctx, "greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v, ok, n)

	// The free plan has no key-value store.
	free, err := p.CreateProject(ctx, owner, mosaic.NewProject{Name: "Free"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.DeleteProject(ctx, owner, free.Slug)
	_, err = p.KV(ctx, owner, free.Slug)
	fmt.Println(errors.Is(err, mosaic.ErrQuota))
	// Output:
	// hello true 2
	// true
}

// UploadURL presigns an upload: the bytes go from the caller straight to the
// object store, then ConfirmUpload counts them against the plan.
func ExamplePlatform_UploadURL() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	p, owner := env.Platform, env.Account.ID
	cp, err := p.CreateProject(ctx, owner, mosaic.NewProject{Name: "Files"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.DeleteProject(ctx, owner, cp.Slug)

	data := "hello, storage\n"
	up, err := p.UploadURL(ctx, owner, cp.Slug, mosaic.UploadRequest{Filename: "docs/hello.txt", ContentType: "text/plain", Size: int64(len(data))})
	if err != nil {
		log.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, up.Method, up.UploadURL, strings.NewReader(data))
	if err != nil {
		log.Fatal(err)
	}
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	f, err := p.ConfirmUpload(ctx, owner, cp.Slug, up.Filename)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, f.Filename, f.Size, f.ContentType)

	dl, err := p.FileDownloadURL(ctx, owner, cp.Slug, "docs/hello.txt")
	if err != nil {
		log.Fatal(err)
	}
	resp, err = http.Get(dl.DownloadURL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	fmt.Printf("%q\n", got)
	// Output:
	// 200 docs/hello.txt 15 text/plain
	// "hello, storage\n"
}

// Auth is a project's end-user auth: users, password hashes and tokens live
// in the project's own database.
func ExamplePlatform_Auth() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	p, owner := env.Platform, env.Account.ID
	cp, err := p.CreateProject(ctx, owner, mosaic.NewProject{Name: "Members"})
	if err != nil {
		log.Fatal(err)
	}
	defer p.DeleteProject(ctx, owner, cp.Slug)

	a, err := p.Auth(ctx, owner, cp.Slug)
	if err != nil {
		log.Fatal(err)
	}
	u, err := a.Signup(ctx, mosaic.AuthNewUser{Email: "ada@example.com", Password: "correct horse battery"})
	if err != nil {
		log.Fatal(err)
	}
	in, err := a.Login(ctx, "ada@example.com", "correct horse battery", "203.0.113.7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(in.ID == u.ID, in.Email, in.LoginCount)

	_, err = a.Login(ctx, "ada@example.com", "wrong password", "203.0.113.7")
	fmt.Println(errors.Is(err, mosaic.ErrUnauthorized))
	_, err = a.Signup(ctx, mosaic.AuthNewUser{Email: "bob@example.com", Password: "short"})
	fmt.Println(errors.Is(err, mosaic.ErrInvalid))
	// Output:
	// true ada@example.com 1
	// true
	// true
}
