package mosaic_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/docker"
	"github.com/mosaic-platform/mosaic/deployer/process"
	"github.com/mosaic-platform/mosaic/internal/dockertest"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// Apps in a container must listen on all of its interfaces: Docker
// publishes the container's port, not its loopback. These are the apps of
// deploy_test.go with that one change.

func dockerGoApp(body string) [][2]string {
	files := goApp(body)
	files[1][1] = strings.Replace(files[1][1], `"127.0.0.1:"+os.Getenv("PORT")`, `":"+os.Getenv("PORT")`, 1)
	return files
}

func dockerNodeApp(body string) [][2]string {
	files := nodeApp(body)
	files[1][1] = strings.Replace(files[1][1], `.listen(process.env.PORT, '127.0.0.1', `, `.listen(process.env.PORT, `, 1)
	return files
}

func dockerRustApp(body string) [][2]string {
	files := rustApp(body)
	files[1][1] = strings.Replace(files[1][1], `"127.0.0.1:{}"`, `"0.0.0.0:{}"`, 1)
	return files
}

func dockerPythonApp(body string) [][2]string {
	files := pythonApp(body)
	files[1][1] = strings.Replace(files[1][1], `HTTPServer(("127.0.0.1", `, `HTTPServer(("0.0.0.0", `, 1)
	return files
}

// dockerEnv is an Env whose platform deploys on the Docker daemon the suite
// uses (scripts/setup-docker), with the locally built base images. It
// skips without git, a daemon or the images. It returns the Config the
// platform was made with (for a second platform), the daemon's address and
// a plain client for checking what the runtime did. wrap, when given,
// wraps the Docker runtime (deployer.WithStaticSites).
func dockerEnv(t *testing.T, wrap ...func(deployer.Runtime) deployer.Runtime) (*mosaictest.Env, mosaic.Config, string, *client.Client) {
	t.Helper()
	needTools(t, "git")
	images := deployer.LocalImages()
	host := dockertest.SkipWithoutImages(t, images.GoBuilder, images.Node, images.Static)
	rt, err := docker.New(docker.Config{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	var cfg mosaic.Config
	var runtime deployer.Runtime = rt
	for _, w := range wrap {
		runtime = w(runtime)
	}
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Runtime = runtime
		c.DeployImages = images
		cfg = *c
	}))
	return env, cfg, host, cli
}

// labelFilter matches the containers and images of one project.
func labelFilter(projectID string) client.Filters {
	return client.Filters{}.Add("label", deployer.LabelProject+"="+projectID)
}

// projectContainers returns the containers (running or not) labelled with
// projectID.
func projectContainers(t *testing.T, cli *client.Client, projectID string) []container.Summary {
	t.Helper()
	res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: labelFilter(projectID)})
	if err != nil {
		t.Fatal(err)
	}
	return res.Items
}

// waitContainers waits until projectID has n containers.
func waitContainers(t *testing.T, cli *client.Client, projectID string, n int) {
	t.Helper()
	var cs []container.Summary
	for range 1200 {
		if cs = projectContainers(t, cli, projectID); len(cs) == n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("project %s has %d containers, want %d: %+v", projectID, len(cs), n, cs)
}

// liveContainer inspects the one container of projectID.
func liveContainer(t *testing.T, cli *client.Client, projectID string) container.InspectResponse {
	t.Helper()
	cs := projectContainers(t, cli, projectID)
	if len(cs) != 1 {
		t.Fatalf("project %s has %d containers, want 1: %+v", projectID, len(cs), cs)
	}
	res, err := cli.ContainerInspect(context.Background(), cs[0].ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Container
}

// checkLimits checks that the live container of cp runs with its plan's
// memory and CPU limits, as Docker reports them and, when this process can
// read them, as the kernel enforces them (the container's cgroup files);
// that its labels name the project and deployment; and that its port is
// published on 127.0.0.1 only.
func checkLimits(t *testing.T, cli *client.Client, cp *mosaic.CreatedProject, deploymentID string) {
	t.Helper()
	plan, ok := mosaic.DefaultPlans()[cp.Plan]
	if !ok {
		t.Fatalf("project plan %q is not in the default plan table", cp.Plan)
	}
	wantMem, wantCPU := plan.ContainerMemoryBytes, int64(plan.ContainerCPU*1e9)
	c := liveContainer(t, cli, cp.ID.String())
	if c.HostConfig.Memory != wantMem || c.HostConfig.NanoCPUs != wantCPU {
		t.Errorf("docker inspect: Memory %d NanoCpus %d, want the %s plan's %d and %d",
			c.HostConfig.Memory, c.HostConfig.NanoCPUs, cp.Plan, wantMem, wantCPU)
	}
	if c.HostConfig.RestartPolicy.Name == "" || c.HostConfig.RestartPolicy.Name == container.RestartPolicyDisabled {
		t.Errorf("no restart policy: %+v", c.HostConfig.RestartPolicy)
	}
	if l := c.Config.Labels; l[deployer.LabelProject] != cp.ID.String() || l[deployer.LabelDeployment] != deploymentID ||
		l[deployer.LabelSlug] != cp.Slug || l[deployer.LabelManaged] != "true" {
		t.Errorf("container labels %v, want project %s deployment %s", l, cp.ID, deploymentID)
	}
	img, err := cli.ImageInspect(context.Background(), c.Image)
	if err != nil {
		t.Fatal(err)
	}
	// The image is labelled with the project (labels the same at every
	// build, so they stay in the layer cache) and tagged with the
	// deployment; the deployment's label is the container's.
	if l := img.Config.Labels; l[deployer.LabelProject] != cp.ID.String() || l[deployer.LabelSlug] != cp.Slug || l[deployer.LabelManaged] != "true" {
		t.Errorf("image labels %v, want project %s", l, cp.ID)
	}
	if want := "mosaic/" + cp.Slug + ":" + strings.SplitN(deploymentID, "-", 2)[0]; c.Config.Image != want || !slices.Contains(img.RepoTags, want) {
		t.Errorf("container image %q (tags %v), want the deployment's image %s", c.Config.Image, img.RepoTags, want)
	}
	for port, binds := range c.HostConfig.PortBindings {
		for _, b := range binds {
			if !b.HostIP.IsLoopback() {
				t.Errorf("port %s published on %s, want 127.0.0.1 only", port, b.HostIP)
			}
		}
	}
	checkCgroup(t, c.State.Pid, wantMem, wantCPU)
}

// checkCgroup reads the limits of the cgroups of process pid (a container's
// first process) from the host's cgroup tree: cgroup v1 memory and cpu
// controllers, or the v2 unified tree. It logs and returns when the files
// are not visible from here.
func checkCgroup(t *testing.T, pid int, wantMem, wantCPU int64) {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Logf("cgroup of pid %d not readable (%v): limits checked in docker inspect only", pid, err)
		return
	}
	defer f.Close()
	paths := map[string]string{} // controller → path
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			paths["unified"] = parts[2]
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			paths[ctl] = parts[2]
		}
	}
	read := func(p string) (string, bool) {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", false
		}
		return strings.TrimSpace(string(b)), true
	}
	period := int64(100000)
	wantQuota := strconv.FormatInt(wantCPU*period/1e9, 10)
	checked := 0
	if p, ok := paths["memory"]; ok {
		// cgroup v1: memory.limit_in_bytes; cpu.cfs_quota_us over cpu.cfs_period_us.
		if got, ok := read(filepath.Join("/sys/fs/cgroup/memory", p, "memory.limit_in_bytes")); ok {
			checked++
			if got != strconv.FormatInt(wantMem, 10) {
				t.Errorf("cgroup memory.limit_in_bytes = %s, want %d", got, wantMem)
			}
		}
		for _, dir := range []string{"cpu", "cpu,cpuacct"} {
			q, ok1 := read(filepath.Join("/sys/fs/cgroup", dir, paths["cpu"], "cpu.cfs_quota_us"))
			per, ok2 := read(filepath.Join("/sys/fs/cgroup", dir, paths["cpu"], "cpu.cfs_period_us"))
			if ok1 && ok2 {
				checked++
				if q != wantQuota || per != strconv.FormatInt(period, 10) {
					t.Errorf("cgroup cpu.cfs_quota_us/cpu.cfs_period_us = %s/%s, want %s/%d", q, per, wantQuota, period)
				}
				break
			}
		}
	} else if p, ok := paths["unified"]; ok {
		if got, ok := read(filepath.Join("/sys/fs/cgroup", p, "memory.max")); ok {
			checked++
			if got != strconv.FormatInt(wantMem, 10) {
				t.Errorf("cgroup memory.max = %s, want %d", got, wantMem)
			}
		}
		if got, ok := read(filepath.Join("/sys/fs/cgroup", p, "cpu.max")); ok {
			checked++
			if want := wantQuota + " " + strconv.FormatInt(period, 10); got != want {
				t.Errorf("cgroup cpu.max = %s, want %s", got, want)
			}
		}
	}
	if checked == 0 {
		t.Logf("cgroup files of pid %d (%v) not visible from here: limits checked in docker inspect only", pid, paths)
		return
	}
	t.Logf("cgroup files of pid %d checked (%d limits)", pid, checked)
}

// TestDeployDocker is the end-to-end deployment suite on the Docker
// runtime: pushes through the platform's API, builds and containers on the
// suite's Docker daemon, requests through the {slug}.{domain} site router.
// One Env (one platform) runs every case: a platform rehydrates from all
// the containers it finds on the daemon when it starts, so the rehydrate
// case runs alone after the others.
func TestDeployDocker(t *testing.T) {
	env, cfg, host, cli := dockerEnv(t)
	srv := siteServer(t, env.Platform)
	ctx := context.Background()

	t.Run("group", func(t *testing.T) {
		// Static site, Node app and Go app → pending, building, running →
		// served through the site router with the app's own answer, with
		// the plan's limits in docker inspect and the cgroup files.
		stacks := []struct {
			name  string
			plan  string
			files [][2]string
			stack deployer.Stack
			want  string
		}{
			{"static", "starter", [][2]string{{"style.css", "h1{color:red}"}, {"index.html", "<h1>static on docker</h1>"}}, deployer.StackStatic, "<h1>static on docker</h1>"},
			{"node", "free", dockerNodeApp("node on docker"), deployer.StackNode, "node on docker pid="},
			{"go", "free", dockerGoApp("go on docker"), deployer.StackGo, "go on docker host="},
			{"rust", "free", dockerRustApp("rust on docker"), deployer.StackRust, "rust on docker host="},
			{"python", "free", dockerPythonApp("python on docker"), deployer.StackPython, "python on docker host="},
		}
		for _, tc := range stacks {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				switch images := cfg.DeployImages; tc.stack {
				case deployer.StackRust:
					dockertest.SkipWithoutImages(t, images.RustBuilder, images.Runtime)
				case deployer.StackPython:
					dockertest.SkipWithoutImages(t, images.Python)
				}
				cp := env.Project(t, func(p *mosaic.NewProject) { p.Plan = tc.plan })
				c, dep := push(t, env, cp.Slug, true, tc.files...)
				if dep == nil || dep.Status != deployer.StatusPending {
					t.Fatalf("deploy block %+v", dep)
				}
				seen := watchStatuses(t, env, cp.Slug)
				if !inOrder(seen, []deployer.Status{deployer.StatusPending, deployer.StatusBuilding, deployer.StatusRunning}) {
					logs, _ := env.Platform.DeployLogs(ctx, env.Account.ID, cp.Slug)
					t.Fatalf("statuses %v; build log:\n%s", seen, logs.Build)
				}
				code, body := site(t, srv, env.Platform, cp.Slug, "/")
				if code != 200 || !strings.Contains(body, tc.want) {
					t.Fatalf("site: %d %q, want %q", code, body, tc.want)
				}
				if tc.stack != deployer.StackStatic && tc.stack != deployer.StackNode && !strings.Contains(body, "host="+cp.Slug+"."+env.Platform.Domain()) {
					t.Errorf("the app did not see the site's host name: %q", body)
				}
				hist, err := env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 10)
				if err != nil || len(hist) != 1 || hist[0].ID != dep.DeploymentID || hist[0].Stack != tc.stack ||
					hist[0].CommitSHA != c.SHA || hist[0].Status != deployer.StatusRunning {
					t.Fatalf("history %+v %v", hist, err)
				}
				logs, err := env.Platform.DeployLogs(ctx, env.Account.ID, cp.Slug)
				if err != nil || !strings.Contains(logs.Build, "detected "+string(tc.stack)) {
					t.Errorf("logs %+v %v", logs, err)
				}
				if tc.stack == deployer.StackNode {
					if !strings.Contains(logs.Runtime, "node app listening on") {
						t.Errorf("runtime log (from the container) %q", logs.Runtime)
					}
					if code, body := site(t, srv, env.Platform, cp.Slug, "/stream"); code != 200 || body != "tick 0\ntick 1\ntick 2\n" {
						t.Errorf("stream: %d %q", code, body)
					}
				}
				checkLimits(t, cli, cp, dep.DeploymentID)
				t.Logf("%s on docker: push to serving in %d ms (statuses %v)", tc.name, hist[0].DurationMS, seen)

				if tc.stack != deployer.StackGo {
					return
				}
				// A broken Go build fails with the compiler's error in the
				// build log; the running version keeps serving.
				_, bad := push(t, env, cp.Slug, true, [2]string{"main.go", "package main\n\nfunc main() { notDefinedAnywhere() }\n"})
				env.WaitDeploy(t, cp.Slug, deployer.StatusFailed)
				logs, err = env.Platform.DeployLogs(ctx, env.Account.ID, cp.Slug)
				if err != nil || logs.DeploymentID != bad.DeploymentID || !strings.Contains(logs.Build, "undefined: notDefinedAnywhere") {
					t.Fatalf("build log of the broken build (%v):\n%+v", err, logs)
				}
				if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != 200 || !strings.Contains(body, tc.want) {
					t.Errorf("after a broken build: %d %q, want the previous version still serving", code, body)
				}
				st, _ := env.Platform.DeployStatus(ctx, env.Account.ID, cp.Slug)
				if st.Status != deployer.StatusFailed || st.Live == nil || st.Live.ID != dep.DeploymentID || !strings.Contains(st.Latest.Error, "build failed") {
					t.Errorf("status after a broken build: %+v", st)
				}
				// Still exactly the one container, the live deployment's.
				if c := liveContainer(t, cli, cp.ID.String()); c.Config.Labels[deployer.LabelDeployment] != dep.DeploymentID {
					t.Errorf("container left is of deployment %s, want %s", c.Config.Labels[deployer.LabelDeployment], dep.DeploymentID)
				}
			})
		}

		// Stop (503 page), start, restart (a new container process each
		// time), destroy (no container, no image, no route left).
		t.Run("lifecycle", func(t *testing.T) {
			t.Parallel()
			cp := env.Project(t)
			pid := cp.ID.String()
			deployed(t, env, cp.Slug, dockerNodeApp("lifecycle")...)
			if _, body := site(t, srv, env.Platform, cp.Slug, "/"); !strings.Contains(body, "lifecycle pid=") {
				t.Fatalf("%q", body)
			}
			c0 := liveContainer(t, cli, pid)

			st, err := env.Platform.StopApp(ctx, env.Account.ID, cp.Slug)
			if err != nil || st.Status != deployer.StatusStopped {
				t.Fatalf("stop: %+v %v", st, err)
			}
			if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != http.StatusServiceUnavailable || !strings.Contains(body, "This app is stopped") {
				t.Errorf("stopped app: %d %q", code, body)
			}
			if c := liveContainer(t, cli, pid); c.State.Running {
				t.Errorf("container still running after stop: %+v", c.State)
			}
			if st, err = env.Platform.StartApp(ctx, env.Account.ID, cp.Slug); err != nil || st.Status != deployer.StatusRunning {
				t.Fatalf("start: %+v %v", st, err)
			}
			if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != 200 || !strings.Contains(body, "lifecycle pid=") {
				t.Errorf("after start: %d %q", code, body)
			}
			c1 := liveContainer(t, cli, pid)
			if c1.ID != c0.ID || !c1.State.Running || c1.State.Pid == c0.State.Pid {
				t.Errorf("after start: container %s pid %d (before stop: %s pid %d)", c1.ID[:12], c1.State.Pid, c0.ID[:12], c0.State.Pid)
			}
			if st, err = env.Platform.RestartApp(ctx, env.Account.ID, cp.Slug); err != nil || st.Status != deployer.StatusRunning {
				t.Fatalf("restart: %+v %v", st, err)
			}
			if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != 200 || !strings.Contains(body, "lifecycle pid=") {
				t.Errorf("after restart: %d %q", code, body)
			}
			if c2 := liveContainer(t, cli, pid); !c2.State.Running || c2.State.Pid == c1.State.Pid || c2.State.StartedAt == c1.State.StartedAt {
				t.Errorf("restart did not restart the container: pid %d started %s (before: %d %s)", c2.State.Pid, c2.State.StartedAt, c1.State.Pid, c1.State.StartedAt)
			}

			destroyLeavesNoContainer(t, env, srv, cli, cp)
			imgs, err := cli.ImageList(ctx, client.ImageListOptions{All: true, Filters: labelFilter(pid)})
			if err != nil || len(imgs.Items) != 0 {
				t.Errorf("images left: %+v %v", imgs.Items, err)
			}
			if _, err := cli.ImageInspect(ctx, c0.Image); err == nil {
				t.Errorf("the app's image %s is still there", c0.Image)
			}
			st, err = env.Platform.DeployStatus(ctx, env.Account.ID, cp.Slug)
			if err != nil || st.Status != deployer.StatusInactive || st.Live != nil {
				t.Errorf("status after destroy: %+v %v", st, err)
			}
		})

		// Superseded versions, a failed build and destroy leave nothing of
		// the project behind: no container, no image labelled with it
		// (intermediate images included), and none of the images the
		// builds' steps made (the Go builder stage's among them): no
		// dangling image.
		t.Run("cleanup", func(t *testing.T) {
			t.Parallel()
			cp := env.Project(t)
			pid := cp.ID.String()
			var made []string
			deploy := func(want deployer.Status, files ...[2]string) {
				t.Helper()
				_, dep := push(t, env, cp.Slug, true, files...)
				env.WaitDeploy(t, cp.Slug, want)
				logs, err := env.Platform.DeployLogs(ctx, env.Account.ID, cp.Slug)
				if err != nil || logs.DeploymentID != dep.DeploymentID {
					t.Fatalf("logs of deployment %s: %+v %v", dep.DeploymentID, logs, err)
				}
				made = append(made, dockertest.BuiltImages(logs.Build)...)
			}
			deploy(deployer.StatusRunning, dockerGoApp("cleanup v1")...)
			deploy(deployer.StatusRunning, dockerGoApp("cleanup v2")...)
			if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != 200 || !strings.Contains(body, "cleanup v2") {
				t.Fatalf("site after the second deployment: %d %q", code, body)
			}
			waitContainers(t, cli, pid, 1) // the superseded one goes in the background
			deploy(deployer.StatusFailed, [2]string{"main.go", "package main\n\nfunc main() { notDefinedAnywhere() }\n"})
			if len(made) < 10 {
				t.Fatalf("the build logs name %d images made by the steps, want those of three builds", len(made))
			}
			if err := env.Platform.DestroyDeployment(ctx, env.Account.ID, cp.Slug); err != nil {
				t.Fatal(err)
			}
			if cs := projectContainers(t, cli, pid); len(cs) != 0 {
				t.Errorf("containers left: %+v", cs)
			}
			imgs, err := cli.ImageList(ctx, client.ImageListOptions{All: true, Filters: labelFilter(pid)})
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range imgs.Items {
				t.Errorf("image left: %s %v", im.ID, im.RepoTags)
			}
			for _, id := range made {
				if _, err := cli.ImageInspect(ctx, id); err == nil {
					t.Errorf("image %s made by a build is still there", id)
				}
			}
		})

		// git push with auto-deploy on (turned on by the first deployment)
		// deploys the new commit on Docker.
		t.Run("git-push", func(t *testing.T) {
			t.Parallel()
			cp := env.Project(t)
			deployed(t, env, cp.Slug, dockerNodeApp("before the push")...)
			if s, err := env.Platform.ProjectSettings(ctx, env.Account.ID, cp.Slug); err != nil || !s.AutoDeploy {
				t.Fatalf("settings after the first deployment: %+v %v", s, err)
			}
			dir := t.TempDir()
			git := func(args ...string) string {
				t.Helper()
				cmd := exec.Command("git", args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "HOME="+dir, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
					"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test")
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("git %v: %v\n%s", args, err, out)
				}
				return strings.TrimSpace(string(out))
			}
			git("clone", "-q", strings.Replace(env.Platform.GitRepoURL(cp.Slug), "://", "://x:"+env.APIKey+"@", 1), ".")
			if err := os.WriteFile(filepath.Join(dir, "server.js"), []byte(dockerNodeApp("pushed with git")[1][1]), 0o644); err != nil {
				t.Fatal(err)
			}
			git("commit", "-qam", "second version")
			git("push", "-q", "origin", "main")
			sha := git("rev-parse", "HEAD")
			deadline := time.Now().Add(5 * time.Minute)
			for {
				_, body := site(t, srv, env.Platform, cp.Slug, "/")
				if strings.Contains(body, "pushed with git") {
					break
				}
				if time.Now().After(deadline) {
					hist, _ := env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 5)
					t.Fatalf("the pushed version was never served (last %q); history %+v", body, hist)
				}
				time.Sleep(100 * time.Millisecond)
			}
			hist, _ := env.Platform.DeployHistory(ctx, env.Account.ID, cp.Slug, 1)
			if len(hist) != 1 || hist[0].Trigger != deployer.TriggerGitPush || hist[0].CommitSHA != sha {
				t.Fatalf("git push deployment %+v, want commit %s", hist, sha)
			}
			// The swap removes the old version's container after the new
			// one went live: only the new one is left.
			waitContainers(t, cli, cp.ID.String(), 1)
			if c := liveContainer(t, cli, cp.ID.String()); c.Config.Labels[deployer.LabelDeployment] != hist[0].ID {
				t.Errorf("container of deployment %s, want %s", c.Config.Labels[deployer.LabelDeployment], hist[0].ID)
			}
		})
	})
	if t.Failed() {
		return
	}

	// A second platform on the same control database, with a fresh Docker
	// runtime, adopts the running container from its labels, serves it and
	// reports it running.
	t.Run("rehydrate", func(t *testing.T) {
		cp := env.Project(t)
		live := deployed(t, env, cp.Slug, dockerNodeApp("survives restarts")...)
		c0 := liveContainer(t, cli, cp.ID.String())

		rt2, err := docker.New(docker.Config{Host: host})
		if err != nil {
			t.Fatal(err)
		}
		defer rt2.Close()
		cfg2 := cfg
		cfg2.Runtime = rt2
		p2, err := mosaic.New(ctx, cfg2)
		if err != nil {
			t.Fatal(err)
		}
		defer p2.Close()
		srv2 := siteServer(t, p2)
		if code, body := site(t, srv2, p2, cp.Slug, "/"); code != 200 || !strings.Contains(body, "survives restarts") {
			t.Errorf("after a platform restart: %d %q", code, body)
		}
		st, err := p2.DeployStatus(ctx, env.Account.ID, cp.Slug)
		if err != nil || st.Status != deployer.StatusRunning || st.Live == nil || st.Live.ID != live.Live.ID {
			t.Errorf("status after a platform restart: %+v %v", st, err)
		}
		// Adopted, not redeployed: the same container, never restarted.
		if c := liveContainer(t, cli, cp.ID.String()); c.ID != c0.ID || c.State.StartedAt != c0.State.StartedAt {
			t.Errorf("container %s started %s, want the adopted %s started %s", c.ID[:12], c.State.StartedAt, c0.ID[:12], c0.State.StartedAt)
		}
	})
}

// TestDeployDockerStaticSites: with deployer.WithStaticSites(docker,
// process), what cmd/mosaic runs with MOSAIC_RUNTIME=docker, a static
// site is served by the platform itself with no container; stop, start
// and restart work on it; an app with code pushed to the same project then
// runs in a container with the plan's limits, and the site's files are
// removed at the swap; destroy leaves neither.
func TestDeployDockerStaticSites(t *testing.T) {
	var static *process.Runtime
	env, _, _, cli := dockerEnv(t, func(rt deployer.Runtime) deployer.Runtime {
		var err error
		if static, err = process.New(process.Config{Dir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { static.Close() })
		return deployer.WithStaticSites(rt, static)
	})
	srv := siteServer(t, env.Platform)
	ctx := context.Background()
	cp := env.Project(t)
	pid := cp.ID.String()
	mine := map[string]string{deployer.LabelProject: pid}

	_, dep := push(t, env, cp.Slug, true, [2]string{"style.css", "h1{color:red}"}, [2]string{"index.html", "<h1>served by the platform</h1>"})
	st := env.WaitDeploy(t, cp.Slug, deployer.StatusRunning)
	if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != 200 || body != "<h1>served by the platform</h1>" {
		t.Fatalf("site: %d %q", code, body)
	}
	if code, body := site(t, srv, env.Platform, cp.Slug, "/style.css"); code != 200 || body != "h1{color:red}" {
		t.Errorf("style.css: %d %q", code, body)
	}
	if cs := projectContainers(t, cli, pid); len(cs) != 0 {
		t.Errorf("a static site made containers: %+v", cs)
	}
	if st.Instance == nil || st.Instance.Runtime != "process" || st.Live == nil || st.Live.ID != dep.DeploymentID {
		t.Errorf("status of the static site: %+v", st)
	}
	logs, err := env.Platform.DeployLogs(ctx, env.Account.ID, cp.Slug)
	if err != nil || !strings.Contains(logs.Build, "building with the process runtime") {
		t.Errorf("build log: %v\n%s", err, logs.Build)
	}
	if insts, err := static.List(ctx, mine); err != nil || len(insts) != 1 {
		t.Fatalf("static instances: %+v %v", insts, err)
	}

	// Stop, start and restart go to the runtime that holds the site.
	if st, err := env.Platform.StopApp(ctx, env.Account.ID, cp.Slug); err != nil || st.Status != deployer.StatusStopped {
		t.Fatalf("stop: %+v %v", st, err)
	}
	if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != http.StatusServiceUnavailable || !strings.Contains(body, "This app is stopped") {
		t.Errorf("stopped site: %d %q", code, body)
	}
	for _, op := range []func(context.Context, uuid.UUID, string) (*mosaic.DeployStatus, error){env.Platform.StartApp, env.Platform.RestartApp} {
		if st, err := op(ctx, env.Account.ID, cp.Slug); err != nil || st.Status != deployer.StatusRunning {
			t.Fatalf("start/restart: %+v %v", st, err)
		}
		if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != 200 || !strings.Contains(body, "served by the platform") {
			t.Errorf("after start/restart: %d %q", code, body)
		}
	}

	// An app with code: a container with the plan's limits; the site's
	// instance and files go after the swap.
	_, dep = push(t, env, cp.Slug, true, dockerNodeApp("node after the site")...)
	st = env.WaitDeploy(t, cp.Slug, deployer.StatusRunning)
	if st.Live == nil || st.Live.ID != dep.DeploymentID || st.Instance == nil || st.Instance.Runtime != "docker" {
		t.Fatalf("status after the node deployment: %+v", st)
	}
	if code, body := site(t, srv, env.Platform, cp.Slug, "/"); code != 200 || !strings.Contains(body, "node after the site pid=") {
		t.Fatalf("site after the node deployment: %d %q", code, body)
	}
	checkLimits(t, cli, cp, dep.DeploymentID)
	for i := 0; ; i++ {
		insts, err := static.List(ctx, mine)
		if err == nil && len(insts) == 0 {
			break
		}
		if i == 600 {
			t.Fatalf("the superseded site is still there: %+v %v", insts, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if builds, err := os.ReadDir(filepath.Join(static.Dir(), "builds")); err != nil || len(builds) != 0 {
		t.Errorf("the superseded site's files are still there: %v %v", builds, err)
	}

	destroyLeavesNoContainer(t, env, srv, cli, cp)
}

// destroyLeavesNoContainer destroys cp's deployment and checks that its
// site is no longer routed and no container of it is left.
func destroyLeavesNoContainer(t *testing.T, env *mosaictest.Env, srv *httptest.Server, cli *client.Client, cp *mosaic.CreatedProject) {
	t.Helper()
	if err := env.Platform.DestroyDeployment(context.Background(), env.Account.ID, cp.Slug); err != nil {
		t.Fatal(err)
	}
	if code, _ := site(t, srv, env.Platform, cp.Slug, "/"); code != http.StatusNotFound {
		t.Errorf("destroyed app still routed: %d", code)
	}
	if cs := projectContainers(t, cli, cp.ID.String()); len(cs) != 0 {
		t.Errorf("containers left: %+v", cs)
	}
}
