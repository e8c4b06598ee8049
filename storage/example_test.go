package storage_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mosaic-platform/mosaic/storage"
)

// A Local store keeps objects in a directory and signs its own URLs; serve
// it at its BaseURL so that the URLs work.
func ExampleNewLocal() {
	dir, _ := os.MkdirTemp("", "storage-example-")
	defer os.RemoveAll(dir)
	st, err := storage.NewLocal(storage.LocalConfig{
		Dir:     dir,
		BaseURL: "http://127.0.0.1:8080/s3",
		Secret:  []byte("a stable secret of 16+ bytes"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	http.Handle("/s3/", http.StripPrefix("/s3", st))

	ctx := context.Background()
	if err := st.Put(ctx, "mosaic", "docs/hello.txt", strings.NewReader("hello"), 5, "text/plain"); err != nil {
		fmt.Println(err)
		return
	}
	for info, err := range st.List(ctx, "mosaic", "docs/") {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(info.Key, info.Size, info.ContentType)
	}
	u, _ := st.PresignGet(ctx, "mosaic", "docs/hello.txt", time.Hour)
	fmt.Println(u.Path)
	_, err = st.PresignGet(ctx, "mosaic", "../etc/passwd", time.Hour)
	fmt.Println(err)
	// Output:
	// docs/hello.txt 5 text/plain
	// /s3/mosaic/docs/hello.txt
	// invalid file name "../etc/passwd": "." and ".." segments are not allowed
}
