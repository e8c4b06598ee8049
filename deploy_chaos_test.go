package mosaic_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/gitpush"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// TestDeployChaos: from 6 goroutines at once, on one project of the
// process runtime, random deploys of new versions (file push with
// deploy), stops, starts, restarts, destroys and reads of the status,
// history and logs. Every call either works or says why with a 4xx kind
// of error. Once the last deployment has ended: at most one instance of
// the project is left, and the site serves exactly the version of the
// live deployment (or, stopped, the 503 page; destroyed, nothing); the
// history has at most one running deployment. A final destroy leaves no
// instance.
func TestDeployChaos(t *testing.T) {
	t.Parallel()
	needTools(t, "git", "node")
	env := mosaictest.New(t)
	srv := siteServer(t, env.Platform)
	cp := env.Project(t)
	ctx := context.Background()

	var mu sync.Mutex
	markers := map[string]string{} // commit sha → the version it serves
	allowed := func(w int, what string, err error) {
		if err == nil {
			return
		}
		switch errs.As(err).Kind {
		case errs.Invalid, errs.NotFound, errs.Conflict, errs.Unavailable:
		default:
			t.Errorf("worker %d: %s: %v", w, what, err)
		}
	}
	chaos(t, 6, func(w int, rng *rand.Rand) {
		for i := range 12 {
			switch rng.IntN(8) {
			case 0, 1, 2:
				marker := fmt.Sprintf("version-%d-%d", w, i)
				files := nodeApp(marker)
				var c *gitpush.Commit
				var err error
				for j, f := range files {
					c, _, err = env.Platform.PushFile(ctx, env.Account.ID, cp.Slug, gitpush.File{Path: f[0], Content: []byte(f[1])}, j == len(files)-1)
					if err != nil {
						break
					}
				}
				allowed(w, "push", err)
				if err == nil {
					mu.Lock()
					markers[c.SHA] = marker
					mu.Unlock()
				}
			case 3:
				_, err := env.Platform.StopApp(ctx, env.Account.ID, cp.Slug)
				allowed(w, "stop", err)
			case 4:
				_, err := env.Platform.StartApp(ctx, env.Account.ID, cp.Slug)
				allowed(w, "start", err)
			case 5:
				_, err := env.Platform.RestartApp(ctx, env.Account.ID, cp.Slug)
				allowed(w, "restart", err)
			case 6:
				if rng.IntN(2) == 0 {
					allowed(w, "destroy", env.Platform.DestroyDeployment(ctx, env.Account.ID, cp.Slug))
				}
			case 7:
				_, err := env.Platform.DeployStatus(ctx, env.Account.ID, cp.Slug)
				allowed(w, "status", err)
				_, err = env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 20)
				allowed(w, "history", err)
				_, err = env.Platform.DeployLogs(ctx, env.Account.ID, cp.Slug)
				allowed(w, "logs", err)
			}
		}
	})

	// The last deployment ends.
	var st *mosaic.DeployStatus
	deadline := time.Now().Add(time.Minute)
	for {
		var err error
		if st, err = env.Platform.DeployStatus(ctx, env.Account.ID, cp.Slug); err != nil {
			t.Fatal(err)
		}
		if st.Status != deployer.StatusPending && st.Status != deployer.StatusBuilding {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s after 2 minutes", st.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Superseded instances go after their drain, in the background.
	mine := map[string]string{deployer.LabelProject: cp.ID.String()}
	want := 0
	if st.Live != nil {
		want = 1
	}
	for {
		insts, err := env.Runtime.List(ctx, mine)
		if err != nil {
			t.Fatal(err)
		}
		if len(insts) == want {
			break
		}
		if time.Now().After(deadline) {
			hist, _ := env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 100)
			var b strings.Builder
			for _, d := range hist {
				fmt.Fprintf(&b, "\n  %s %s %q", d.ID[:8], d.Status, d.Error)
			}
			for _, in := range insts {
				fmt.Fprintf(&b, "\n  instance %s of %s", in.Name, in.Labels[deployer.LabelDeployment][:8])
			}
			t.Fatalf("status %s (live %+v): %d instances of the project, want %d; history:%s", st.Status, st.Live, len(insts), want, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body := site(t, srv, env.Platform, cp.Slug, "/")
	switch {
	case st.Live == nil:
		if code != 404 {
			t.Errorf("no live deployment (status %s), yet the site answers %d %q", st.Status, code, body)
		}
	case st.Instance != nil && st.Instance.State == deployer.StateRunning:
		mu.Lock()
		marker := markers[st.Live.CommitSHA]
		mu.Unlock()
		if code != 200 || marker == "" || !strings.Contains(body, marker+" pid=") {
			t.Errorf("live deployment %s of commit %s (%q): the site answers %d %q", st.Live.ID, st.Live.CommitSHA, marker, code, body)
		}
	default:
		if code != 503 {
			t.Errorf("live deployment not running (%+v): the site answers %d %q", st.Instance, code, body)
		}
	}
	hist, err := env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 100)
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, d := range hist {
		if d.Status == deployer.StatusRunning || d.Status == deployer.StatusStopped {
			running++
		}
		if !d.Status.Finished() {
			t.Errorf("deployment %s is still %s", d.ID, d.Status)
		}
	}
	if running > 1 || (running == 1) != (st.Live != nil) {
		t.Errorf("%d deployments running or stopped in the history, live %v: %+v", running, st.Live != nil, hist)
	}
	t.Logf("%d deployments; final status %s", len(hist), st.Status)

	if err := env.Platform.DestroyDeployment(ctx, env.Account.ID, cp.Slug); err != nil && (st.Live != nil || !errors.Is(err, errs.ErrNotFound)) {
		t.Fatal(err)
	}
	if insts, err := env.Runtime.List(ctx, mine); err != nil || len(insts) != 0 {
		t.Errorf("after destroy: %+v %v", insts, err)
	}
}
