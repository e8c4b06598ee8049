package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func ExampleClient_CreateProject() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx) // a platform served over HTTP
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()

	c := client.New(env.BaseURL, env.APIKey)
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "My App"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteProject(ctx, p.Slug)

	info, err := c.ProjectInfo(ctx, p.Slug)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Status, info.Plan, p.Database.Name == mosaic.DatabaseName(p.Slug))

	_, err = c.ProjectInfo(ctx, "no-such-project")
	fmt.Println(errors.Is(err, mosaic.ErrNotFound))
	// Output:
	// active free true
	// true
}

// SQL runs parameterized queries in the project's database; the rows come
// back as JSON objects keyed by column.
func ExampleClient_SQL() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	c := env.Client
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "Notes"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteProject(ctx, p.Slug)

	if _, err := c.SQL(ctx, p.Slug, `CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)`); err != nil {
		log.Fatal(err)
	}
	res, err := c.SQL(ctx, p.Slug, `INSERT INTO notes (body) VALUES ($1), ($2)`, "first", "second")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Command, res.RowCount)

	res, err = c.SQL(ctx, p.Slug, `SELECT id, body FROM notes WHERE body <> $1 ORDER BY id`, "first")
	if err != nil {
		log.Fatal(err)
	}
	var notes []struct {
		ID   int    `json:"id"`
		Body string `json:"body"`
	}
	if err := json.Unmarshal(res.Rows, &notes); err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Columns, notes)

	// A user's mistake is the platform's error type, with the status it had.
	_, err = c.SQL(ctx, p.Slug, `SELECT * FROM no_such_table`)
	fmt.Println(errors.Is(err, mosaic.ErrInvalid))
	// Output:
	// INSERT 2
	// [id body] [{2 second}]
	// true
}

// A pro project has a key-value store (Redis), with keys private to it.
func ExampleKV_Set() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	c := env.Client
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "Cache", Plan: "pro"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteProject(ctx, p.Slug)

	kv := c.KV(p.Slug)
	if err := kv.Set(ctx, "greeting", "hello", 60); err != nil { // expires in 60 seconds
		log.Fatal(err)
	}
	v, ok, err := kv.Get(ctx, "greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v, ok)
	_, ok, err = kv.Get(ctx, "missing")
	fmt.Println(ok, err)
	// Output:
	// hello true
	// false <nil>
}

// Files go straight to object storage through presigned URLs: ask for an
// upload URL, PUT the bytes there, confirm, and fetch them back from a
// download URL. The URLs need no API key.
func ExampleStorage_UploadURL() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	c := env.Client
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "Files"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteProject(ctx, p.Slug)

	data := []byte("hello, storage\n")
	st := c.Storage(p.Slug)
	up, err := st.UploadURL(ctx, client.UploadRequest{Filename: "docs/hello.txt", ContentType: "text/plain", Size: int64(len(data))})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(up.Method, up.Headers["Content-Type"])
	// Any HTTP client can PUT to the URL; PutURL sends the headers it needs.
	if err := c.PutURL(ctx, up, bytes.NewReader(data), int64(len(data))); err != nil {
		log.Fatal(err)
	}
	f, err := st.Confirm(ctx, up.Filename)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Filename, f.Size)

	dl, err := st.DownloadURL(ctx, "docs/hello.txt")
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.Get(dl.DownloadURL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %q\n", resp.StatusCode, got)
	// Output:
	// PUT text/plain
	// docs/hello.txt 15
	// 200 "hello, storage\n"
}

// End users sign up and log in to a project with a password; the platform
// keeps only its hash.
func ExampleAuth_Signup() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	c := env.Client
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "Members"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteProject(ctx, p.Slug)

	auth := c.Auth(p.Slug)
	u, err := auth.Signup(ctx, client.SignupRequest{Email: "Ada@Example.com", Password: "correct horse battery", Name: "Ada"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Email, *u.Name, u.HasPassword, u.EmailVerified) // the domain is lowercased

	// Addresses are unique regardless of case.
	_, err = auth.Signup(ctx, client.SignupRequest{Email: "ada@example.com", Password: "another password"})
	fmt.Println(errors.Is(err, mosaic.ErrConflict))
	// Output:
	// Ada@example.com Ada true false
	// true
}

func ExampleAuth_Login() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	c := env.Client
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "Members"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteProject(ctx, p.Slug)

	auth := c.Auth(p.Slug)
	signed, err := auth.Signup(ctx, client.SignupRequest{Email: "ada@example.com", Password: "correct horse battery"})
	if err != nil {
		log.Fatal(err)
	}
	u, err := auth.Login(ctx, "ada@example.com", "correct horse battery")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.ID == signed.ID, u.LoginCount)

	_, err = auth.Login(ctx, "ada@example.com", "wrong password")
	var e *errs.Error
	fmt.Println(errors.As(err, &e), e.Code, errors.Is(err, mosaic.ErrUnauthorized))
	// Output:
	// true 1
	// true invalid_credentials true
}

// A project that was never deployed has the status "none"; after Deploy,
// poll DeployStatus (or WaitDeploy) until the app runs.
func ExampleClient_DeployStatus() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()
	c := env.Client
	p, err := c.CreateProject(ctx, client.CreateProjectRequest{Name: "Web App"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteProject(ctx, p.Slug)

	st, err := c.DeployStatus(ctx, p.Slug)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Status, st.Deployment == nil, st.Live == nil)
	// Output:
	// none true true
}
