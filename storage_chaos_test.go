package mosaic_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestStorageChaos: on each store, 6 goroutines at once upload (with and
// without a confirm), delete, list and read the usage of the same five
// file names and five site pages of one project. Usage is never negative
// while it runs; once it stops, the usage a listing reports is the sum of
// the sizes listed (files and site apart), the cached usage then says the
// same, and every listed file holds the bytes of one of the uploads of its
// name.
func TestStorageChaos(t *testing.T) {
	eachStore(t, func(t *testing.T, env *mosaictest.Env) {
		p, owner, slug := env.Platform, env.Account.ID, env.Project(t).Slug
		ctx := context.Background()
		hc := &http.Client{Timeout: 30 * time.Second}
		upload := func(name string, body []byte) error {
			u, err := p.UploadURL(ctx, owner, slug, mosaic.UploadRequest{Filename: name, ContentType: "application/octet-stream", Size: int64(len(body))})
			if err != nil {
				return err
			}
			req, _ := http.NewRequest(u.Method, u.UploadURL, bytes.NewReader(body))
			for k, v := range u.Headers {
				req.Header.Set(k, v)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("PUT %s: %d", name, resp.StatusCode)
			}
			return nil
		}
		ok := func(w int, what string, err error) {
			if err != nil && !errors.Is(err, errs.ErrNotFound) {
				t.Errorf("worker %d: %s: %v", w, what, err)
			}
		}
		nonNegative := func(w int, u mosaic.StorageUsage) {
			if u.UsedBytes < 0 || u.FilesBytes < 0 || u.SiteBytes < 0 || u.UsedBytes != u.FilesBytes+u.SiteBytes {
				t.Errorf("worker %d: usage %+v", w, u)
			}
		}
		chaos(t, 6, func(w int, rng *rand.Rand) {
			for range 40 {
				name := fmt.Sprintf("f%d.bin", rng.IntN(5))
				page := fmt.Sprintf("p%d.html", rng.IntN(5))
				size := 1 + rng.IntN(5000)
				switch rng.IntN(8) {
				case 0, 1:
					// The content says its own length: checked at the end.
					err := upload(name, bytes.Repeat([]byte{byte('a' + size%26)}, size))
					ok(w, "upload", err)
					if err == nil && rng.IntN(2) == 0 {
						_, err := p.ConfirmUpload(ctx, owner, slug, name)
						ok(w, "confirm", err)
					}
				case 2:
					ok(w, "delete", p.DeleteFile(ctx, owner, slug, name))
				case 3:
					l, err := p.Files(ctx, owner, slug, "")
					ok(w, "list", err)
					if err == nil {
						nonNegative(w, l.Usage)
					}
				case 4:
					u, err := p.StorageUsage(ctx, owner, slug)
					ok(w, "usage", err)
					if err == nil {
						nonNegative(w, *u)
					}
				case 5:
					_, err := p.PutSiteFile(ctx, owner, slug, page, bytes.Repeat([]byte{byte('a' + size%26)}, size))
					ok(w, "put site file", err)
				case 6:
					ok(w, "delete site file", p.DeleteSiteFile(ctx, owner, slug, page))
				case 7:
					l, err := p.SiteFiles(ctx, owner, slug, "")
					ok(w, "site list", err)
					if err == nil {
						nonNegative(w, l.Usage)
					}
				}
			}
		})

		files, err := p.Files(ctx, owner, slug, "")
		if err != nil {
			t.Fatal(err)
		}
		site, err := p.SiteFiles(ctx, owner, slug, "")
		if err != nil {
			t.Fatal(err)
		}
		var fb, sb int64
		for _, f := range files.Files {
			fb += f.Size
			d, err := p.FileDownloadURL(ctx, owner, slug, f.Filename)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Get(d.DownloadURL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if int64(len(b)) != f.Size || len(b) == 0 || !bytes.Equal(b, bytes.Repeat([]byte{byte('a' + len(b)%26)}, len(b))) {
				t.Errorf("%s: listed with %d bytes, holds %d bytes that are not one upload's", f.Filename, f.Size, len(b))
			}
		}
		for _, f := range site.Files {
			sb += f.Size
		}
		if files.Usage.FilesBytes != fb || site.Usage.SiteBytes != sb {
			t.Errorf("after the listings: usage says files %d, site %d; the listings hold %d and %d", files.Usage.FilesBytes, site.Usage.SiteBytes, fb, sb)
		}
		if u, err := p.StorageUsage(ctx, owner, slug); err != nil || u.FilesBytes != fb || u.SiteBytes != sb || u.UsedBytes != fb+sb {
			t.Errorf("usage after the listings: %+v %v, want files %d + site %d", u, err, fb, sb)
		}
		t.Logf("%d files (%d bytes), %d site files (%d bytes)", len(files.Files), fb, len(site.Files), sb)
	})
}
