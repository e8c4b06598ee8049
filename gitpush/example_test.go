package gitpush_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
)

// Host repositories, serve them to git clients under /git, commit a file
// through the API and read the tree back as the deployer would.
func Example() {
	dir, err := os.MkdirTemp("", "gitpush-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	repos, err := gitpush.New(gitpush.Config{
		Dir: dir,
		Authorize: func(ctx context.Context, project, user, password string) error {
			if password != "mk_example" { // plug the platform's API-key check in here
				return errs.New(errs.Unauthorized, "bad_key", "invalid API key")
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	pushed := make(chan gitpush.PushEvent, 1)
	repos.OnPush(func(ctx context.Context, ev gitpush.PushEvent) { pushed <- ev })

	mux := http.NewServeMux()
	mux.Handle("/git/", http.StripPrefix("/git", repos))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	if err := repos.Create(ctx, "myapp-x4k2"); err != nil {
		log.Fatal(err)
	}
	c, err := repos.PutFile(ctx, "myapp-x4k2", gitpush.File{
		Path: "index.html", Content: []byte("<h1>Hello</h1>\n"), Message: "Add index.html",
	})
	if err != nil {
		log.Fatal(err)
	}
	ev := <-pushed
	fmt.Println("event:", ev.Source, ev.Updates[0].Ref, ev.Updates[0].New == c.SHA)

	var tarball bytes.Buffer
	if err := repos.Archive(ctx, "myapp-x4k2", "main", &tarball); err != nil {
		log.Fatal(err)
	}
	tr := tar.NewReader(&tarball)
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		if h.Typeflag == tar.TypeReg { // git archive also writes a pax global header (the commit id)
			fmt.Println("archive:", h.Name)
		}
	}

	// git clone <this URL> with the API key as the password.
	fmt.Println(repos.CloneURL("https://mosaic.example/git", "myapp-x4k2"))
	if err := repos.Close(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// event: api refs/heads/main true
	// archive: index.html
	// https://mosaic.example/git/myapp-x4k2.git
}
