package mosaic_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestDeleteProjectUnderLoad deletes a project while goroutines use every
// capability of it: SQL, key-value, uploads, site files, file pushes with
// deploy, deploy status. No call may fail with a server error (only "not
// found", "not ready" or another 4xx kind); once the delete has returned
// and the callers stopped, nothing of the project is left: no database,
// no object, no app instance, and its slug answers not found everywhere.
func TestDeleteProjectUnderLoad(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "node")
	env := mosaictest.New(t)
	ctx := context.Background()
	p, owner := env.Platform, env.Account.ID
	cp := env.Project(t, func(np *mosaic.NewProject) { np.Plan = "pro" })
	slug, pid := cp.Slug, cp.ID.String()
	if _, err := p.SQL(ctx, owner, slug, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	deployed(t, env, slug, nodeApp("before the delete")...)

	var stop atomic.Bool
	var calls, refused atomic.Int64
	check := func(what string, err error) {
		calls.Add(1)
		if err == nil {
			return
		}
		refused.Add(1)
		switch errs.As(err).Kind {
		case errs.NotFound, errs.Conflict, errs.Invalid, errs.Quota, errs.Unavailable:
		default:
			t.Errorf("%s: %v", what, err)
		}
	}
	loops := map[string]func(i int){
		"sql": func(i int) {
			_, err := p.SQL(ctx, owner, slug, "INSERT INTO t VALUES ($1)", i)
			check("sql", err)
		},
		"kv": func(i int) {
			kv, err := p.KV(ctx, owner, slug)
			if err == nil {
				err = kv.Set(ctx, fmt.Sprintf("k%d", i%20), "v", 0)
			}
			check("kv", err)
		},
		"upload": func(i int) {
			u, err := p.UploadURL(ctx, owner, slug, mosaic.UploadRequest{Filename: fmt.Sprintf("f%d.txt", i%5), ContentType: "text/plain", Size: 3})
			if err == nil {
				req, _ := http.NewRequest(u.Method, u.UploadURL, bytes.NewReader([]byte("abc")))
				for k, v := range u.Headers {
					req.Header.Set(k, v)
				}
				if resp, herr := http.DefaultClient.Do(req); herr == nil {
					resp.Body.Close()
				}
				_, err = p.ConfirmUpload(ctx, owner, slug, fmt.Sprintf("f%d.txt", i%5))
			}
			check("upload", err)
		},
		"site": func(i int) {
			_, err := p.PutSiteFile(ctx, owner, slug, fmt.Sprintf("p%d.html", i%5), []byte("<p>x</p>"))
			check("site", err)
		},
		"deploy": func(i int) {
			files := nodeApp(fmt.Sprintf("version %d", i))
			_, _, err := p.PushFile(ctx, owner, slug, gitpush.File{Path: files[1][0], Content: []byte(files[1][1])}, true)
			check("push and deploy", err)
			_, err = p.DeployStatus(ctx, owner, slug)
			check("deploy status", err)
		},
	}
	var wg sync.WaitGroup
	for name, f := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				f(i)
				if name == "deploy" {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := p.DeleteProject(ctx, owner, slug); err != nil {
		t.Fatalf("delete under load: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the callers keep going against the deleted slug
	stop.Store(true)
	wg.Wait()
	t.Logf("%d calls, %d refused", calls.Load(), refused.Load())

	// Nothing of the project is left.
	admin := adminConn(t, env.DatabaseURL)
	var dbs int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", cp.Credentials.Database).Scan(&dbs); err != nil || dbs != 0 {
		t.Errorf("the tenant database: %d %v", dbs, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		insts, err := env.Runtime.List(ctx, map[string]string{deployer.LabelProject: pid})
		if err != nil {
			t.Fatal(err)
		}
		if len(insts) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("app instances of the deleted project: %+v", insts)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, bucket := p.Storage()
	var left []string
	for info, err := range st.List(ctx, bucket, "projects/"+pid+"/") {
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, info.Key)
	}
	// An upload through a URL issued before the delete may land after it:
	// the URL is valid until it expires, and no store can refuse it.
	for _, k := range left {
		if !strings.Contains(k, "/files/") {
			t.Errorf("object left of the deleted project: %s", k)
		}
	}
	if len(left) > 0 {
		t.Logf("uploads that landed after the delete through URLs issued before it: %v", left)
	}
	if _, err := p.SQL(ctx, owner, slug, "SELECT 1"); errs.As(err).Kind != errs.NotFound {
		t.Errorf("SQL after the delete: %v", err)
	}
	if _, err := p.DeployStatus(ctx, owner, slug); errs.As(err).Kind != errs.NotFound {
		t.Errorf("deploy status after the delete: %v", err)
	}
}
