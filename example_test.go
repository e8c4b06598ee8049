package mosaic_test

import (
	"context"
	"errors"
	"fmt"
	"log"

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
