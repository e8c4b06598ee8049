package deployer

import (
	"context"
	"io"
	"time"
)

// Stack names a detected application stack.
type Stack string

// The stacks Detect knows, in precedence order.
const (
	StackGo     Stack = "go"
	StackRust   Stack = "rust"
	StackPython Stack = "python"
	StackNode   Stack = "node"
	StackStatic Stack = "static"
)

// Images are the base images a Docker build uses, per stack. They are
// configuration: production defaults are the official slim images; tests on
// a machine without a registry use images built locally by scripts/setup-docker
// (see LocalImages).
type Images struct {
	GoBuilder   string // builds a static Go binary; the app then runs FROM scratch
	RustBuilder string
	Python      string
	Node        string
	// Static serves a static site: an image with busybox, started as
	// `busybox httpd -f -p $PORT -h /srv`.
	Static string
	// Runtime is a small Debian image (with a shell and libc) that runs the
	// binaries of compiled stacks other than Go: Rust.
	Runtime string
}

// DefaultImages are the official images from Docker Hub.
func DefaultImages() Images {
	return Images{
		GoBuilder:   "golang:1.26-bookworm",
		RustBuilder: "rust:1-slim-bookworm",
		Python:      "python:3.12-slim-bookworm",
		Node:        "node:22-bookworm-slim",
		Static:      "busybox:stable",
		Runtime:     "debian:bookworm-slim",
	}
}

// LocalImages are the images scripts/setup-docker builds from Debian
// packages where no registry is reachable (debootstrap + docker import).
func LocalImages() Images {
	return Images{
		GoBuilder:   "mosaic-local/golang:1.26",
		RustBuilder: "mosaic-local/rust:bookworm",
		Python:      "mosaic-local/python:bookworm",
		Node:        "mosaic-local/node:bookworm",
		Static:      "mosaic-local/busybox:bookworm",
		Runtime:     "mosaic-local/debian:bookworm",
	}
}

// Labels set on every container and image a runtime makes, so that the
// platform can rebuild its state from the runtime after a restart.
const (
	LabelManaged    = "io.mosaic.managed"    // "true"
	LabelProject    = "io.mosaic.project"    // project id
	LabelSlug       = "io.mosaic.slug"       // project slug
	LabelDeployment = "io.mosaic.deployment" // deployment id
	LabelPlatform   = "io.mosaic.platform"   // the platform's id (Config.Instance)
)

// BuildSpec is one build: the source tree of a commit and the plan that
// Detect made for it.
type BuildSpec struct {
	// Tag names the result (for Docker, the image tag, e.g.
	// "mosaic/<slug>:<deployment>").
	Tag    string
	Plan   Plan
	Source io.Reader // tar of the commit's tree (gitpush Archive)
	// Labels go on what Build makes. Keep them the same at every build
	// of a project (the Manager gives the project's, not the
	// deployment's, which only the instance carries): the Docker runtime
	// puts them in the image's first steps, where a label that changes at
	// every build would defeat the layer cache.
	Labels map[string]string
	Logs   io.Writer // build output, line by line as it happens
}

// Artifact is what Build made: an image (Docker) or a built directory
// (processes).
type Artifact struct {
	ID  string // image id, or the directory
	Ref string // what RunSpec.Artifact takes
}

// RunSpec starts one instance of a built artifact.
type RunSpec struct {
	Name     string // unique per runtime, e.g. "mosaic-<slug>-<deployment>"
	Artifact string // Artifact.Ref
	Plan     Plan
	Env      map[string]string // PORT is set by the runtime
	// Port is the port the app listens on inside its sandbox (the value of
	// PORT). The runtime publishes it on 127.0.0.1 only, on a free host port.
	Port int
	// Limits from the project's plan.
	MemoryBytes int64
	NanoCPUs    int64 // 1e9 = one CPU
	Labels      map[string]string
}

// State is an instance's state.
type State string

const (
	StateRunning State = "running"
	StateStopped State = "stopped"
	StateExited  State = "exited" // stopped by itself (crashed or finished)
)

// Instance is one running (or stopped) app.
type Instance struct {
	ID       string
	Name     string
	Artifact string
	State    State
	// Addr is host:port on 127.0.0.1 where the app answers; "" when not running.
	Addr      string
	StartedAt time.Time
	Labels    map[string]string
	// MemoryBytes and NanoCPUs are the limits in force, as the runtime reports them.
	MemoryBytes int64
	NanoCPUs    int64
}

// Runtime builds and runs apps. Implementations: package deployer/process
// (child processes on this host; the embedded default) and deployer/docker
// (Docker Engine).
type Runtime interface {
	// Name is "docker" or "process".
	Name() string
	Build(ctx context.Context, b BuildSpec) (Artifact, error)
	// Run creates and starts an instance; it returns once the process or
	// container is started (not necessarily listening yet).
	Run(ctx context.Context, s RunSpec) (Instance, error)
	Start(ctx context.Context, id string) (Instance, error)
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Restart(ctx context.Context, id string) (Instance, error)
	// Remove stops (if needed) and deletes the instance.
	Remove(ctx context.Context, id string) error
	// RemoveArtifact deletes what Build made.
	RemoveArtifact(ctx context.Context, ref string) error
	// Logs writes the instance's output (stdout and stderr); with follow it
	// keeps writing until ctx is done or the instance ends.
	Logs(ctx context.Context, id string, follow bool, w io.Writer) error
	Inspect(ctx context.Context, id string) (Instance, error)
	// List returns the instances whose labels include all of match.
	List(ctx context.Context, match map[string]string) ([]Instance, error)
}
