// Package docker is the Docker Engine runtime for deployments: it builds an
// image from a commit's tree and the Dockerfile the deployer generated, and
// runs it as a container with the plan's memory and CPU limits, a restart
// policy, labels that name the project and deployment (so the platform can
// rebuild its state from Docker after a restart), and the app's port
// published on 127.0.0.1 only.
//
// It speaks to the daemon with github.com/moby/moby/client, which negotiates
// the API version down to what the daemon offers (1.40 and later; Debian 12's
// docker.io 20.10 speaks 1.41). Builds use the classic builder (BuildKit needs
// a session the Engine API alone does not give), except for Dockerfiles
// without a RUN step, which Build makes with a container commit, the
// equivalent image in less time (see Runtime.Build). A build leaves nothing
// behind that RemoveArtifact does not remove: no dangling builder-stage
// image, no image of a failed build's finished steps.
package docker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/errs"
)

// DockerfileName is the name the generated Dockerfile has in the build
// context. A file of that name in the source tree is replaced; a Dockerfile
// of the app's own is left alone (and unused).
const DockerfileName = ".mosaic.Dockerfile"

// Config configures a Runtime. The zero value talks to the daemon named by
// the environment (DOCKER_HOST, else the default socket) with the defaults
// documented on each field.
type Config struct {
	// Host is the daemon's address in DOCKER_HOST syntax
	// (unix:///path/docker.sock, tcp://host:2375). Empty: from the
	// environment (DOCKER_HOST, DOCKER_API_VERSION, DOCKER_CERT_PATH,
	// DOCKER_TLS_VERIFY), else the platform's default socket.
	Host string
	// RestartPolicy is "unless-stopped" (the default) or "on-failure".
	RestartPolicy string
	// MaxRetries bounds the restarts of the "on-failure" policy (default 5).
	MaxRetries int
	// PidsLimit caps the processes of a container (default 512; -1: none).
	PidsLimit int64
	// LogMaxSize and LogMaxFiles bound a container's json-file log
	// (defaults "10m" and 3).
	LogMaxSize  string
	LogMaxFiles int
	// BuildMemoryBytes and BuildNanoCPUs limit each build step's container
	// (0: no limit).
	BuildMemoryBytes int64
	BuildNanoCPUs    int64
	// AlwaysBuild sends every build to the builder, even a Dockerfile that
	// Build would make without it (see Runtime.Build); for comparing the two.
	AlwaysBuild bool
	// Logger receives debug lines about daemon calls (default: discard).
	Logger *slog.Logger
}

// Runtime runs deployments on a Docker Engine. It keeps no state of its own:
// everything it knows it reads back from the daemon, so a new Runtime finds
// the containers an earlier one made (List by labels).
type Runtime struct {
	cli *client.Client
	cfg Config
	log *slog.Logger
}

var _ deployer.Runtime = (*Runtime)(nil)

// New returns a Runtime for the daemon cfg names. It does no I/O: the first
// call that needs the daemon dials it (use Ping to check it answers).
func New(cfg Config) (*Runtime, error) {
	switch cfg.RestartPolicy {
	case "":
		cfg.RestartPolicy = string(container.RestartPolicyUnlessStopped)
	case string(container.RestartPolicyUnlessStopped), string(container.RestartPolicyOnFailure):
	default:
		return nil, fmt.Errorf("docker: restart policy %q: want unless-stopped or on-failure", cfg.RestartPolicy)
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	}
	if cfg.PidsLimit == 0 {
		cfg.PidsLimit = 512
	}
	if cfg.LogMaxSize == "" {
		cfg.LogMaxSize = "10m"
	}
	if cfg.LogMaxFiles == 0 {
		cfg.LogMaxFiles = 3
	}
	opts := []client.Opt{client.FromEnv}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{cli: cli, cfg: cfg, log: log}, nil
}

// Close releases the client's connections.
func (r *Runtime) Close() error { return r.cli.Close() }

// Name returns "docker".
func (r *Runtime) Name() string { return "docker" }

// Ping checks that the daemon answers and returns the API version the client
// negotiated with it (e.g. "1.41").
func (r *Runtime) Ping(ctx context.Context) (string, error) {
	if _, err := r.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return "", unavailable(err)
	}
	return r.cli.ClientVersion(), nil
}

// Build sends the commit's tree (b.Source, a tar) with b.Plan.Dockerfile
// added as DockerfileName to the daemon, writes the build output to b.Logs
// line by line as it comes, and tags the image b.Tag. A failed build returns
// an error of kind errs.Invalid whose message ends with the last lines of the
// output (where the compiler's message is).
//
// b.Labels go in one LABEL instruction right after each FROM (withLabels),
// where the layer cache keeps it from one build to the next. The last image
// of each builder stage of a multi-stage Dockerfile is tagged b.Tag +
// StageTagSuffix + its index and goes with RemoveArtifact(b.Tag); a failed
// build removes the images its finished steps made. Builds with the same
// labels share their cached steps: the Manager runs one build of a project
// at a time and removes none of its images meanwhile.
//
// A Dockerfile with no RUN step — one FROM, then only WORKDIR, ENV, EXPOSE,
// CMD and one COPY of the whole context, as the Dockerfiles of static sites
// and of Node apps without dependencies — is made without the builder
// (unless Config.AlwaysBuild): a container of the FROM image with the
// Dockerfile's configuration and b.Labels, the source copied into it at the
// COPY's destination, committed as b.Tag. The image is equivalent to the
// one the builder makes (same configuration, same files, owned by root as
// COPY makes them, without the Dockerfile itself), in one layer, and takes
// about two thirds of the builder's time, which for such a Dockerfile is
// one cached step per instruction and one commit.
func (r *Runtime) Build(ctx context.Context, b deployer.BuildSpec) (deployer.Artifact, error) {
	if strings.TrimSpace(b.Plan.Dockerfile) == "" {
		return deployer.Artifact{}, errs.New(errs.Invalid, "no_dockerfile", "the build plan has no Dockerfile")
	}
	logs := b.Logs
	if logs == nil {
		logs = io.Discard
	}
	if !r.cfg.AlwaysBuild {
		if sc, ok := parseShortcut(b.Plan.Dockerfile); ok {
			return r.commitBuild(ctx, b, sc, logs)
		}
	}
	pr, pw := io.Pipe()
	dockerfile := withLabels(b.Plan.Dockerfile, b.Labels)
	go func() { pw.CloseWithError(buildContext(pw, b.Source, dockerfile)) }()
	defer pr.Close()

	// The labels are in the Dockerfile (withLabels), not in
	// ImageBuildOptions.Labels: the classic builder appends those as one
	// uncacheable LABEL step each at the end of the build.
	opts := client.ImageBuildOptions{
		Dockerfile:  DockerfileName,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
		Memory:      r.cfg.BuildMemoryBytes,
	}
	if b.Tag != "" {
		opts.Tags = []string{b.Tag}
	}
	if r.cfg.BuildMemoryBytes > 0 {
		opts.MemorySwap = r.cfg.BuildMemoryBytes
	}
	if r.cfg.BuildNanoCPUs > 0 {
		opts.CPUPeriod = 100000
		opts.CPUQuota = r.cfg.BuildNanoCPUs * opts.CPUPeriod / 1e9
	}
	res, err := r.cli.ImageBuild(ctx, pr, opts)
	if err != nil {
		return deployer.Artifact{}, r.daemonErr(ctx, err, "build")
	}
	defer res.Body.Close()

	steps := &stepTracker{}
	built := false
	defer func() {
		if !built {
			r.removeStages(ctx, steps.stages, true)
		}
	}()
	lw := &lineWriter{w: io.MultiWriter(logs, steps)}
	tail := &tailLines{max: 30}
	var id string
	var buildErr *jsonstream.Error
	dec := json.NewDecoder(res.Body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if ctx.Err() != nil {
				return deployer.Artifact{}, ctx.Err()
			}
			return deployer.Artifact{}, errs.Wrap(errs.Unavailable, err, "docker_unavailable", "reading the build output from Docker failed")
		}
		switch {
		case m.Error != nil:
			buildErr = m.Error
		case m.Stream != "":
			_, _ = io.WriteString(lw, m.Stream)
			tail.add(m.Stream)
		case m.Status != "":
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			_, _ = io.WriteString(lw, line+"\n")
		case m.Aux != nil:
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		}
	}
	lw.flush()
	if buildErr != nil {
		_, _ = io.WriteString(logs, buildErr.Message+"\n")
		return deployer.Artifact{}, errs.New(errs.Invalid, "build_failed", "build failed: %s\n%s", buildErr.Message, tail.String())
	}
	ref := b.Tag
	if id == "" || ref == "" {
		look := ref
		if look == "" {
			look = id
		}
		if look == "" {
			return deployer.Artifact{}, errs.New(errs.Internal, "build_no_image", "the build reported no image")
		}
		ins, err := r.cli.ImageInspect(ctx, look)
		if err != nil {
			return deployer.Artifact{}, r.daemonErr(ctx, err, "inspect the built image")
		}
		id = ins.ID
	}
	if ref == "" {
		ref = id
	}
	if err := r.keepStages(ctx, b.Tag, steps.stages); err != nil {
		_ = r.RemoveArtifact(context.WithoutCancel(ctx), ref) // then the deferred removeStages
		return deployer.Artifact{}, err
	}
	built = true
	r.log.DebugContext(ctx, "docker: built", "tag", b.Tag, "image", id)
	return deployer.Artifact{ID: id, Ref: ref}, nil
}

// withLabels returns dockerfile with one LABEL instruction of labels
// (sorted) after each FROM. Right after FROM, the step is the same at every
// build with the same labels, so the build cache has it; labels that change
// at every build would make every later step a cache miss.
func withLabels(dockerfile string, labels map[string]string) string {
	if len(labels) == 0 {
		return dockerfile
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var label strings.Builder
	label.WriteString("LABEL")
	for _, k := range keys {
		label.WriteString(" " + strconv.Quote(k) + "=" + strconv.Quote(labels[k]))
	}
	lines := strings.SplitAfter(dockerfile, "\n")
	var out strings.Builder
	for _, line := range lines {
		out.WriteString(line)
		if f := strings.Fields(line); len(f) > 1 && strings.EqualFold(f[0], "FROM") {
			if !strings.HasSuffix(line, "\n") {
				out.WriteString("\n")
			}
			out.WriteString(label.String() + "\n")
		}
	}
	return out.String()
}

// StageTagSuffix names the tags Build gives to the last image of each
// build stage but the last one of a multi-stage Dockerfile: the image
// tagged T has its builder stage i tagged T + StageTagSuffix + i. The
// tags keep those images (and the cache of their steps, such as the
// dependencies downloaded from the manifests) while the deployment lives,
// mark them as the deployment's, and RemoveArtifact(T) removes them:
// without a tag the classic builder leaves them behind as dangling images.
const StageTagSuffix = "-stage"

// buildStage is what the build output said about one stage.
type buildStage struct {
	base string // the image of its FROM step (not Build's to remove)
	leaf string // the image of its last finished step
	made bool   // leaf was made by this build (not a cache hit, not base)
}

// stepTracker follows the classic builder's output ("Step 2/7 : COPY . .",
// " ---> Using cache", " ---> 3f2c4a9d1e07") to know which images each
// stage made. It gets whole lines.
type stepTracker struct {
	stages []buildStage
	step   int
	from   bool // the current step is a FROM
	cached bool // the current step hit the cache
}

func (t *stepTracker) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		t.line(line)
	}
	return len(p), nil
}

func (t *stepTracker) line(line string) {
	if rest, ok := strings.CutPrefix(line, "Step "); ok {
		num, instr, ok := strings.Cut(rest, " : ")
		n, _, _ := strings.Cut(num, "/")
		if i, err := strconv.Atoi(n); ok && err == nil && i == t.step+1 {
			t.step, t.cached = i, false
			f := strings.Fields(instr)
			t.from = len(f) > 0 && strings.EqualFold(f[0], "FROM")
			if t.from {
				t.stages = append(t.stages, buildStage{})
			}
		}
		return
	}
	id, ok := strings.CutPrefix(line, " ---> ")
	if !ok || len(t.stages) == 0 {
		return
	}
	id = strings.TrimSpace(id)
	if id == "Using cache" {
		t.cached = true
		return
	}
	if !isShortID(id) {
		return
	}
	st := &t.stages[len(t.stages)-1]
	if t.from {
		st.base, st.leaf, st.made = id, id, false
		return
	}
	st.leaf, st.made = id, !t.cached
}

func isShortID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// keepStages tags the last image of every stage but the last one (see
// StageTagSuffix); without a tag to give them, it removes them.
func (r *Runtime) keepStages(ctx context.Context, tag string, stages []buildStage) error {
	if len(stages) < 2 {
		return nil
	}
	for i, st := range stages[:len(stages)-1] {
		if st.leaf == "" || st.leaf == st.base {
			continue
		}
		if tag == "" {
			r.removeStages(ctx, []buildStage{st}, false)
			continue
		}
		target := tag + StageTagSuffix + strconv.Itoa(i)
		if _, err := r.cli.ImageTag(ctx, client.ImageTagOptions{Source: st.leaf, Target: target}); err != nil {
			return r.daemonErr(ctx, err, "tag the build stage image")
		}
	}
	return nil
}

// removeStages removes the last image of each stage (with its untagged
// parents that nothing else uses) when this build made it, or (all) even
// when it came from the cache. A failed or cancelled build calls it for
// what it made: the classic builder keeps the images of the steps that
// finished.
func (r *Runtime) removeStages(ctx context.Context, stages []buildStage, onlyMade bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for i := len(stages) - 1; i >= 0; i-- {
		st := stages[i]
		if st.leaf == "" || st.leaf == st.base || (onlyMade && !st.made) {
			continue
		}
		if _, err := r.cli.ImageRemove(ctx, st.leaf, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			r.log.DebugContext(ctx, "docker: could not remove a build stage's image", "image", st.leaf, "err", err)
		}
	}
}

// buildContext writes the build context: src's entries (a tar; nil for an
// empty tree) and the Dockerfile.
func buildContext(w io.Writer, src io.Reader, dockerfile string) error {
	tw := tar.NewWriter(w)
	if src != nil {
		err := copyTar(tw, src, func(h *tar.Header) *tar.Header {
			if strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/") == DockerfileName {
				return nil
			}
			return h
		})
		if err != nil {
			return err
		}
	}
	data := []byte(dockerfile)
	if err := tw.WriteHeader(&tar.Header{
		Name: DockerfileName, Mode: 0o644, Size: int64(len(data)),
		Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0),
	}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	return tw.Close()
}

// copyTar copies the entries of the tar src to tw, each header through
// edit first, which returns the header to write or nil to leave the entry
// out.
func copyTar(tw *tar.Writer, src io.Reader, edit func(*tar.Header) *tar.Header) error {
	tr := tar.NewReader(src)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the source tar: %w", err)
		}
		if h = edit(h); h == nil {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// Run creates and starts a container of s.Artifact and returns it running.
// The app's port s.Port is published on 127.0.0.1 at a free host port that
// the Runtime picks and pins in the container's configuration: a port the
// daemon picked itself would change at every restart, including the restarts
// the restart policy makes behind the platform's back.
func (r *Runtime) Run(ctx context.Context, s deployer.RunSpec) (deployer.Instance, error) {
	if s.Port <= 0 || s.Port > 65535 {
		return deployer.Instance{}, errs.New(errs.Invalid, "invalid_port", "the app port must be between 1 and 65535, not %d", s.Port)
	}
	if s.Artifact == "" {
		return deployer.Instance{}, errs.New(errs.Invalid, "no_artifact", "nothing to run: no image")
	}
	port, err := network.ParsePort(strconv.Itoa(s.Port) + "/tcp")
	if err != nil {
		return deployer.Instance{}, errs.Wrap(errs.Invalid, err, "invalid_port", "bad app port %d", s.Port)
	}
	env := make([]string, 0, len(s.Env)+1)
	for k, v := range s.Env {
		if k != "PORT" {
			env = append(env, k+"="+v)
		}
	}
	sort.Strings(env)
	env = append(env, "PORT="+strconv.Itoa(s.Port))
	labels := map[string]string{deployer.LabelManaged: "true"}
	for k, v := range s.Labels {
		labels[k] = v
	}
	restart := container.RestartPolicy{Name: container.RestartPolicyMode(r.cfg.RestartPolicy)}
	if restart.Name == container.RestartPolicyOnFailure {
		restart.MaximumRetryCount = r.cfg.MaxRetries
	}
	res := container.Resources{Memory: s.MemoryBytes, NanoCPUs: s.NanoCPUs}
	if s.MemoryBytes > 0 {
		res.MemorySwap = s.MemoryBytes // no swap beyond the limit
	}
	if r.cfg.PidsLimit > 0 {
		pids := r.cfg.PidsLimit
		res.PidsLimit = &pids
	}

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		hostPort, err := freePort()
		if err != nil {
			return deployer.Instance{}, errs.Internalf(err, "no free port on 127.0.0.1")
		}
		created, err := r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name: s.Name,
			Config: &container.Config{
				Image:        s.Artifact,
				Env:          env,
				Labels:       labels,
				ExposedPorts: network.PortSet{port: {}},
			},
			HostConfig: &container.HostConfig{
				Resources:     res,
				RestartPolicy: restart,
				PortBindings: network.PortMap{port: {{
					HostIP:   netip.AddrFrom4([4]byte{127, 0, 0, 1}),
					HostPort: strconv.Itoa(hostPort),
				}}},
				LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{
					"max-size": r.cfg.LogMaxSize, "max-file": strconv.Itoa(r.cfg.LogMaxFiles),
				}},
				SecurityOpt: []string{"no-new-privileges"},
			},
		})
		if err != nil {
			if cerrdefs.IsConflict(err) {
				return deployer.Instance{}, errs.Wrap(errs.Conflict, err, "instance_exists", "a container named %q already exists", s.Name)
			}
			if cerrdefs.IsNotFound(err) {
				return deployer.Instance{}, errs.Wrap(errs.NotFound, err, "image_not_found", "no image %q", s.Artifact)
			}
			return deployer.Instance{}, r.daemonErr(ctx, err, "create the container")
		}
		_, err = r.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{})
		if err == nil {
			r.log.DebugContext(ctx, "docker: started", "name", s.Name, "id", created.ID, "port", hostPort)
			return r.Inspect(ctx, created.ID)
		}
		lastErr = err
		// Remove what did not start; a port taken between freePort and the
		// daemon's bind is retried on another port.
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, _ = r.cli.ContainerRemove(rmCtx, created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		cancel()
		if !portTaken(err) || ctx.Err() != nil {
			break
		}
	}
	return deployer.Instance{}, r.daemonErr(ctx, lastErr, "start the container")
}

func portTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "address already in use") || strings.Contains(msg, "port is already allocated")
}

// freePort returns a port on 127.0.0.1 that nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts a stopped instance.
func (r *Runtime) Start(ctx context.Context, id string) (deployer.Instance, error) {
	if _, err := r.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return deployer.Instance{}, r.containerErr(ctx, err, id, "start")
	}
	return r.Inspect(ctx, id)
}

// Stop stops an instance: SIGTERM, then SIGKILL after timeout (rounded up to
// whole seconds; 0 means the daemon's default of 10 s).
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	opts := client.ContainerStopOptions{}
	if timeout > 0 {
		secs := int(math.Ceil(timeout.Seconds()))
		opts.Timeout = &secs
	}
	if _, err := r.cli.ContainerStop(ctx, id, opts); err != nil {
		return r.containerErr(ctx, err, id, "stop")
	}
	return nil
}

// Restart stops (10 s grace) and starts an instance again. Its address does
// not change.
func (r *Runtime) Restart(ctx context.Context, id string) (deployer.Instance, error) {
	secs := 10
	if _, err := r.cli.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: &secs}); err != nil {
		return deployer.Instance{}, r.containerErr(ctx, err, id, "restart")
	}
	return r.Inspect(ctx, id)
}

// Remove stops and deletes an instance (and its anonymous volumes). Removing
// an instance that does not exist is not an error.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	_, err := r.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return r.containerErr(ctx, err, id, "remove")
	}
	return nil
}

// RemoveArtifact deletes an image Build made (by tag or id) and its untagged
// parents. An image still used by a container is not removed (errs.Conflict);
// one that does not exist is not an error.
//
// The images of the build stages that Build tagged ref + StageTagSuffix +
// i go with it (each with its untagged parents that no other image uses:
// the layers the stage's cache shares with a later build stay).
func (r *Runtime) RemoveArtifact(ctx context.Context, ref string) error {
	_, err := r.cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
	case cerrdefs.IsConflict(err):
		return errs.Wrap(errs.Conflict, err, "image_in_use", "image %q is used by a container", ref)
	default:
		return r.daemonErr(ctx, err, "remove the image")
	}
	if strings.HasPrefix(ref, "sha256:") || !strings.Contains(ref, ":") {
		return nil // not a tag Build gave: no stage tags
	}
	res, err := r.cli.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", ref+StageTagSuffix+"*")})
	if err != nil {
		return r.daemonErr(ctx, err, "list the build stage images")
	}
	prefix := ref + StageTagSuffix
	for _, im := range res.Items {
		for _, t := range im.RepoTags {
			if !strings.HasPrefix(t, prefix) {
				continue
			}
			if _, err := r.cli.ImageRemove(ctx, t, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
				return r.daemonErr(ctx, err, "remove a build stage image")
			}
		}
	}
	return nil
}

// Logs writes the instance's stdout and stderr (demultiplexed) to w. With
// follow it keeps writing until the instance stops or ctx is done; a follow
// ended by ctx returns nil.
func (r *Runtime) Logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	rc, err := r.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: follow,
	})
	if err != nil {
		if follow && ctx.Err() != nil {
			return nil
		}
		return r.containerErr(ctx, err, id, "read the logs of")
	}
	defer rc.Close()
	if follow {
		// Closing the stream is what unblocks a follow when ctx ends.
		stop := context.AfterFunc(ctx, func() { rc.Close() })
		defer stop()
	}
	// One writer for both streams: StdCopy writes frames in order.
	if _, err := stdcopy.StdCopy(w, w, rc); err != nil {
		if ctx.Err() != nil {
			if follow {
				return nil
			}
			return ctx.Err()
		}
		return errs.Wrap(errs.Unavailable, err, "docker_unavailable", "reading the logs from Docker failed")
	}
	return nil
}

// Inspect returns an instance's state, address and limits.
func (r *Runtime) Inspect(ctx context.Context, id string) (deployer.Instance, error) {
	res, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return deployer.Instance{}, r.containerErr(ctx, err, id, "inspect")
	}
	return instance(res.Container), nil
}

// List returns the containers (running or not) whose labels include all of
// match, oldest first.
func (r *Runtime) List(ctx context.Context, match map[string]string) ([]deployer.Instance, error) {
	f := client.Filters{}
	for k, v := range match {
		f.Add("label", k+"="+v)
	}
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, r.daemonErr(ctx, err, "list containers")
	}
	sort.Slice(res.Items, func(i, j int) bool { return res.Items[i].Created < res.Items[j].Created })
	out := make([]deployer.Instance, 0, len(res.Items))
	for _, c := range res.Items {
		in, err := r.Inspect(ctx, c.ID)
		if errs.KindOf(err) == errs.NotFound {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// instance turns an inspect response into an Instance.
func instance(c container.InspectResponse) deployer.Instance {
	in := deployer.Instance{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), State: deployer.StateStopped}
	if c.Config != nil {
		in.Artifact = c.Config.Image
		in.Labels = c.Config.Labels
	}
	if c.HostConfig != nil {
		in.MemoryBytes = c.HostConfig.Memory
		in.NanoCPUs = c.HostConfig.NanoCPUs
	}
	if st := c.State; st != nil {
		in.State = state(st, c.HostConfig, c.RestartCount)
		if t, err := time.Parse(time.RFC3339Nano, st.StartedAt); err == nil && t.Year() > 1 {
			in.StartedAt = t
		}
	}
	if in.State == deployer.StateRunning && c.NetworkSettings != nil {
		in.Addr = loopbackAddr(c.NetworkSettings.Ports)
	}
	return in
}

// state tells a stop from an end: Docker does not say who stopped a
// container, but its restart policy does. Under unless-stopped (and always)
// Docker restarts an app that ends by itself, so one that is down and not
// restarting was stopped. Under on-failure Docker gives up after MaxRetries
// and does not restart an app that exits 0, so those ended by themselves (an
// app that exits 0 on SIGTERM therefore looks "exited" after a stop under
// on-failure); any other down app was stopped.
func state(st *container.State, hc *container.HostConfig, restarts int) deployer.State {
	switch {
	case st.Running && !st.Restarting:
		return deployer.StateRunning
	case st.Restarting, st.Dead:
		return deployer.StateExited // crashing, or failed to be removed
	case st.Status == container.StateCreated || hc == nil:
		return deployer.StateStopped
	case hc.RestartPolicy.Name == container.RestartPolicyOnFailure:
		if max := hc.RestartPolicy.MaximumRetryCount; st.ExitCode == 0 || (max > 0 && restarts >= max) {
			return deployer.StateExited
		}
	case hc.RestartPolicy.Name == "" || hc.RestartPolicy.Name == container.RestartPolicyDisabled:
		if st.ExitCode != 0 && st.ExitCode != 137 && st.ExitCode != 143 {
			return deployer.StateExited // not the SIGTERM/SIGKILL of a stop
		}
	}
	return deployer.StateStopped
}

// loopbackAddr returns the first 127.0.0.1 binding of ports as host:port.
func loopbackAddr(ports network.PortMap) string {
	keys := make([]network.Port, 0, len(ports))
	for p := range ports {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Num() < keys[j].Num() })
	for _, p := range keys {
		for _, b := range ports[p] {
			if b.HostPort != "" && b.HostIP.IsLoopback() {
				return net.JoinHostPort(b.HostIP.String(), b.HostPort)
			}
		}
	}
	return ""
}

// containerErr maps a daemon error about container id to an errs error.
func (r *Runtime) containerErr(ctx context.Context, err error, id, verb string) error {
	if cerrdefs.IsNotFound(err) {
		return errs.Wrap(errs.NotFound, err, "instance_not_found", "no container %q", id)
	}
	return r.daemonErr(ctx, err, verb+" the container")
}

// daemonErr maps any other daemon error: the context's own error, an
// unreachable daemon (errs.Unavailable), or what the daemon said.
func (r *Runtime) daemonErr(ctx context.Context, err error, what string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if client.IsErrConnectionFailed(err) {
		return unavailable(err)
	}
	if cerrdefs.IsInvalidArgument(err) {
		return errs.Wrap(errs.Invalid, err, "docker_invalid", "Docker refused to %s: %v", what, err)
	}
	return errs.Internalf(err, "docker: %s", what)
}

func unavailable(err error) error {
	return errs.Wrap(errs.Unavailable, err, "docker_unavailable", "the Docker daemon does not answer")
}

// lineWriter passes whole lines to w as they complete.
type lineWriter struct {
	w   io.Writer
	buf bytes.Buffer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		if _, err := l.w.Write(l.buf.Next(i + 1)); err != nil {
			return len(p), err
		}
	}
}

func (l *lineWriter) flush() {
	if l.buf.Len() > 0 {
		l.buf.WriteByte('\n')
		_, _ = l.w.Write(l.buf.Bytes())
		l.buf.Reset()
	}
}

// tailLines keeps the last max lines written to it.
type tailLines struct {
	max   int
	lines []string
}

func (t *tailLines) add(s string) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		t.lines = append(t.lines, line)
		if len(t.lines) > t.max {
			t.lines = t.lines[1:]
		}
	}
}

func (t *tailLines) String() string { return strings.Join(t.lines, "\n") }
