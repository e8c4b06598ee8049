package mosaictest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/process"
)

// configureRuntime gives the platform the local-process runtime in a
// temporary directory (apps are built with the host's toolchains and run as
// child processes), and a health timeout fit for a busy test machine. A
// test that wants Docker sets Config.Runtime with WithConfig.
func configureRuntime(cfg *mosaic.Config, log *slog.Logger) (*process.Runtime, string) {
	dir, err := os.MkdirTemp("", "mosaictest-apps-")
	if err != nil {
		log.Warn("mosaictest: no deployments: cannot make the runtime's directory", "err", err)
		return nil, ""
	}
	rt, err := process.New(process.Config{Dir: dir, Logger: log})
	if err != nil {
		os.RemoveAll(dir)
		log.Warn("mosaictest: no deployments: cannot open the process runtime", "err", err)
		return nil, ""
	}
	cfg.Runtime = rt
	cfg.DeployHealthTimeout = 60 * time.Second
	return rt, dir
}

// closeRuntime ends every app the Env's process runtime still runs and
// removes its directory.
func closeRuntime(rt *process.Runtime, dir string) {
	if rt == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	insts, _ := rt.List(ctx, nil)
	for _, i := range insts {
		rt.Remove(ctx, i.ID)
	}
	rt.Close()
	os.RemoveAll(dir)
}

// WaitDeploy waits until the project's deployment status is want (for
// example deployer.StatusRunning) and returns it; it fails the test when
// the deployment fails instead, or after five minutes (a cold Go build
// cache on a busy machine takes minutes).
func (e *Env) WaitDeploy(t testing.TB, slug string, want deployer.Status) *mosaic.DeployStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var last *mosaic.DeployStatus
	for {
		st, err := e.Platform.DeployStatus(ctx, e.Account.ID, slug)
		if err != nil {
			t.Fatalf("mosaictest: deploy status of %s: %v", slug, err)
		}
		last = st
		if st.Status == want {
			return st
		}
		if st.Status == deployer.StatusFailed && want != deployer.StatusFailed {
			logs, _ := e.Platform.DeployLogs(ctx, e.Account.ID, slug)
			build := ""
			if logs != nil {
				build = logs.Build
			}
			t.Fatalf("mosaictest: deployment of %s failed (%s), want %s; build log:\n%s", slug, st.Latest.Error, want, build)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("mosaictest: deployment of %s is %s after 5 minutes, want %s", slug, last.Status, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
