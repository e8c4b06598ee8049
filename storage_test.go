package mosaic_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestStorageUsageFromTheStore: usage comes from sizes the store reports,
// not from what the client declares, and a listing reconciles it with
// what the store holds (uploads never confirmed, objects removed behind
// the platform's back).
func TestStorageUsageFromTheStore(t *testing.T) {
	eachStore(t, func(t *testing.T, env *mosaictest.Env) {
		ctx := context.Background()
		owner := env.Account.ID
		cp := env.Project(t)
		slug := cp.Slug
		p := env.Platform

		// Unsized upload, never confirmed: not counted until a listing sees it.
		u, err := p.UploadURL(ctx, owner, slug, mosaic.UploadRequest{Filename: "logs/a.log", ContentType: "text/plain"})
		if err != nil {
			t.Fatal(err)
		}
		if u.ExpiresIn != 3600 || u.Method != "PUT" {
			t.Errorf("upload URL: %+v", u)
		}
		put(t, u, bytes.Repeat([]byte("a"), 1234))
		if us, err := p.StorageUsage(ctx, owner, slug); err != nil || us.UsedBytes != 0 {
			t.Errorf("usage before any listing or confirm: %+v %v", us, err)
		}
		l, err := p.Files(ctx, owner, slug, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Files) != 1 || l.Usage.UsedBytes != 1234 || l.Usage.FilesBytes != 1234 {
			t.Fatalf("after a listing: %+v", l)
		}
		// Confirm records the size the store reports.
		f, err := p.ConfirmUpload(ctx, owner, slug, "logs/a.log")
		if err != nil || f.Size != 1234 || f.ContentType != "text/plain" {
			t.Fatalf("confirm: %+v %v", f, err)
		}
		// Removed behind the platform's back (the layout is
		// projects/<id>/files/<name>): a listing notices.
		st, bucket := p.Storage()
		key := "projects/" + cp.ID.String() + "/files/logs/a.log"
		if _, err := st.Stat(ctx, bucket, key); err != nil {
			t.Fatalf("the documented layout: %v", err)
		}
		if err := st.Delete(ctx, bucket, key); err != nil {
			t.Fatal(err)
		}
		if l, err := p.Files(ctx, owner, slug, ""); err != nil || len(l.Files) != 0 || l.Usage.UsedBytes != 0 {
			t.Errorf("after an out-of-band delete: %+v %v", l, err)
		}
		// Site files count too.
		if _, err := p.PutSiteFile(ctx, owner, slug, "index.html", []byte("<h1>hi</h1>")); err != nil {
			t.Fatal(err)
		}
		if us, _ := p.StorageUsage(ctx, owner, slug); us.SiteBytes != 11 || us.UsedBytes != 11 {
			t.Errorf("usage with a site file: %+v", us)
		}
	})
}

// eachStore runs f, in parallel subtests "s3" and "local", on an Env of
// each object store.
func eachStore(t *testing.T, f func(t *testing.T, env *mosaictest.Env)) {
	for _, local := range []bool{false, true} {
		t.Run(map[bool]string{false: "s3", true: "local"}[local], func(t *testing.T) {
			t.Parallel()
			var opts []mosaictest.Option
			if local {
				opts = append(opts, mosaictest.WithLocalStorage())
			}
			f(t, mosaictest.New(t, opts...))
		})
	}
}

func put(t *testing.T, u *mosaic.UploadURL, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(u.Method, u.UploadURL, bytes.NewReader(body))
	for k, v := range u.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
}

// TestStorageObjectsIsolatedByProjectID: a project's objects are keyed by
// its id, so a new project that reuses a deleted project's slug sees none
// of the old one's files or site.
func TestStorageObjectsIsolatedByProjectID(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithLocalStorage())
	ctx := context.Background()
	owner := env.Account.ID
	p := env.Platform
	slug := "reuse-" + strings.ToLower(time.Now().Format("150405.000"))
	slug = strings.ReplaceAll(slug, ".", "")
	if _, err := p.CreateProject(ctx, owner, mosaic.NewProject{Name: "first", Slug: slug}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PutSiteFile(ctx, owner, slug, "index.html", []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteProject(ctx, owner, slug); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateProject(ctx, owner, mosaic.NewProject{Name: "second", Slug: slug}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.DeleteProject(context.Background(), owner, slug) })
	if _, _, err := p.OpenSiteFile(ctx, slug, "index.html"); !errors.Is(err, mosaic.ErrNotFound) {
		t.Errorf("the new project serves the old one's page: %v", err)
	}
	if l, err := p.SiteFiles(ctx, owner, slug, ""); err != nil || len(l.Files) != 0 || l.Usage.UsedBytes != 0 {
		t.Errorf("the new project lists: %+v %v", l, err)
	}
}

// TestStorageAnotherOwner: the Platform methods refuse another account's
// project as NotFound.
func TestStorageAnotherOwner(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithLocalStorage())
	ctx := context.Background()
	slug := env.Project(t).Slug
	p := env.Platform
	if _, err := p.PutSiteFile(ctx, env.Account.ID, slug, "index.html", []byte("x")); err != nil {
		t.Fatal(err)
	}
	other, _, _ := env.NewAccount(t)
	for name, err := range map[string]error{
		"Files": func() error { _, err := p.Files(ctx, other.ID, slug, ""); return err }(),
		"UploadURL": func() error {
			_, err := p.UploadURL(ctx, other.ID, slug, mosaic.UploadRequest{Filename: "a"})
			return err
		}(),
		"ConfirmUpload":  func() error { _, err := p.ConfirmUpload(ctx, other.ID, slug, "a"); return err }(),
		"DownloadURL":    func() error { _, err := p.FileDownloadURL(ctx, other.ID, slug, "a"); return err }(),
		"DeleteFile":     p.DeleteFile(ctx, other.ID, slug, "a"),
		"PutSiteFile":    func() error { _, err := p.PutSiteFile(ctx, other.ID, slug, "index.html", []byte("y")); return err }(),
		"SiteFiles":      func() error { _, err := p.SiteFiles(ctx, other.ID, slug, ""); return err }(),
		"DeleteSiteFile": p.DeleteSiteFile(ctx, other.ID, slug, "index.html"),
		"StorageUsage":   func() error { _, err := p.StorageUsage(ctx, other.ID, slug); return err }(),
	} {
		if !errors.Is(err, mosaic.ErrNotFound) {
			t.Errorf("%s as another account: %v, want NotFound", name, err)
		}
	}
	rc, _, err := p.OpenSiteFile(ctx, slug, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "x" {
		t.Errorf("site file changed: %q", b)
	}
}

// TestStorageDeletedWithProject: deleting a project removes its files and
// its site from the store itself (checked by listing the store under the
// project's prefix), on the local store and on S3.
func TestStorageDeletedWithProject(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]mosaictest.Option{"local": {mosaictest.WithLocalStorage()}, "default": nil} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := mosaictest.New(t, opts...)
			ctx := context.Background()
			owner := env.Account.ID
			p := env.Platform
			cp, err := p.CreateProject(ctx, owner, mosaic.NewProject{Name: "doomed"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.PutSiteFile(ctx, owner, cp.Slug, "index.html", []byte("<p>bye</p>")); err != nil {
				t.Fatal(err)
			}
			up, err := p.UploadURL(ctx, owner, cp.Slug, mosaic.UploadRequest{Filename: "a/b.txt", ContentType: "text/plain"})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(up.Method, up.UploadURL, strings.NewReader("data"))
			for k, v := range up.Headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("PUT: %d", resp.StatusCode)
			}
			store, bucket := p.Storage()
			count := func() int {
				n := 0
				for _, err := range store.List(ctx, bucket, "projects/"+cp.ID.String()+"/") {
					if err != nil {
						t.Fatal(err)
					}
					n++
				}
				return n
			}
			if n := count(); n != 2 {
				t.Fatalf("before delete the store holds %d objects of the project, want 2", n)
			}
			if err := p.DeleteProject(ctx, owner, cp.Slug); err != nil {
				t.Fatal(err)
			}
			if n := count(); n != 0 {
				t.Fatalf("after delete the store still holds %d objects of the project", n)
			}
		})
	}
}

// TestStorageStaleListingKeepsDeletes: a listing that began before a delete
// (a background reconciliation still reading the store) and saw the
// object must not bring its size back into the usage; an object that
// reappears in a later listing counts again.
func TestStorageStaleListingKeepsDeletes(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithLocalStorage())
	ctx := context.Background()
	owner := env.Account.ID
	cp := env.Project(t)
	p := env.Platform

	upload := func() {
		u, err := p.UploadURL(ctx, owner, cp.Slug, mosaic.UploadRequest{Filename: "a.bin", ContentType: "application/octet-stream"})
		if err != nil {
			t.Fatal(err)
		}
		put(t, u, bytes.Repeat([]byte("a"), 1234))
	}
	upload()
	if _, err := p.ConfirmUpload(ctx, owner, cp.Slug, "a.bin"); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Second) // the stale listing began before the delete
	if err := p.DeleteFile(ctx, owner, cp.Slug, "a.bin"); err != nil {
		t.Fatal(err)
	}
	if err := p.ReconcileListing(ctx, cp.ID, since, []string{"a.bin"}, []int64{1234}); err != nil {
		t.Fatal(err)
	}
	if us, err := p.StorageUsage(ctx, owner, cp.Slug); err != nil || us.UsedBytes != 0 {
		t.Fatalf("a stale listing resurrected a deleted object: %+v %v", us, err)
	}
	// So does an object that was never recorded (an upload not confirmed).
	u, err := p.UploadURL(ctx, owner, cp.Slug, mosaic.UploadRequest{Filename: "b.bin", ContentType: "application/octet-stream"})
	if err != nil {
		t.Fatal(err)
	}
	put(t, u, []byte("bbb"))
	since = time.Now().Add(-time.Second)
	if err := p.DeleteFile(ctx, owner, cp.Slug, "b.bin"); err != nil {
		t.Fatal(err)
	}
	if err := p.ReconcileListing(ctx, cp.ID, since, []string{"b.bin"}, []int64{3}); err != nil {
		t.Fatal(err)
	}
	if us, _ := p.StorageUsage(ctx, owner, cp.Slug); us.UsedBytes != 0 {
		t.Fatalf("a stale listing recorded a deleted, never-confirmed object: %+v", us)
	}
	// The object comes back (an upload never confirmed): the next listing counts it.
	upload()
	l, err := p.Files(ctx, owner, cp.Slug, "")
	if err != nil || len(l.Files) != 1 || l.Usage.UsedBytes != 1234 {
		t.Fatalf("listing after the object came back: %+v %v", l, err)
	}
}

// TestStorageLateUploadSwept: an upload URL issued before a project's
// delete still works after it (no store can revoke one), so what it puts
// under the deleted project's id is swept once no such URL can be valid:
// not before the grace, then all of it, and the id is forgotten.
func TestStorageLateUploadSwept(t *testing.T) {
	// One store after the other: the sweep with no grace takes every
	// deleted id of the control database, which the two Envs share.
	for _, local := range []bool{false, true} {
		var opts []mosaictest.Option
		if local {
			opts = append(opts, mosaictest.WithLocalStorage())
		}
		lateUploadSwept(t, mosaictest.New(t, opts...))
	}
}

func lateUploadSwept(t *testing.T, env *mosaictest.Env) {
	t.Helper()
	ctx := context.Background()
	p, owner := env.Platform, env.Account.ID
	cp := env.Project(t)
	u, err := p.UploadURL(ctx, owner, cp.Slug, mosaic.UploadRequest{Filename: "late.txt", ContentType: "text/plain", Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteProject(ctx, owner, cp.Slug); err != nil {
		t.Fatal(err)
	}
	put(t, u, []byte("late"))
	st, bucket := p.Storage()
	left := func() int {
		n := 0
		for _, err := range st.List(ctx, bucket, "projects/"+cp.ID.String()+"/") {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := left(); n != 1 {
		t.Fatalf("the late upload: %d objects under the deleted project", n)
	}
	// Within the grace (an hour here) nothing is swept.
	if _, err := p.SweepDeletedStorage(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := left(); n != 1 {
		t.Fatalf("swept within the grace: %d objects left", n)
	}
	if n, err := p.SweepDeletedStorage(ctx, 0); err != nil || n < 1 {
		t.Fatalf("sweep after the grace: %d %v", n, err)
	}
	if n := left(); n != 0 {
		t.Errorf("after the sweep: %d objects under the deleted project", n)
	}
	var known bool
	if err := adminConn(t, env.DatabaseURL).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mosaic.deleted_projects WHERE id = $1)`, cp.ID).Scan(&known); err != nil || known {
		t.Errorf("the swept id is still listed: %v %v", known, err)
	}
}
