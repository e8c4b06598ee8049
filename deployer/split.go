package deployer

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
)

// IsStaticSite reports whether p is a static site that runs no code of
// its own: the static stack without a Procfile "web:" line.
func IsStaticSite(p Plan) bool { return p.Stack == StackStatic && !p.Procfile }

// WithStaticSites returns a Runtime that builds and runs static sites (see
// IsStaticSite) on static and every other app on apps.
//
// A static site runs no tenant code, so it needs no container for
// isolation: the process runtime (package deployer/process) serves its
// files itself from a loopback listener, confined to the site's tree, as
// soon as the files are extracted. On Docker Engine the same site is a
// container of a busybox image, and starting any container takes about
// 0.6 s on the machines we measured (bench/README.md), more than the rest
// of a static deployment together; the container also holds memory for as
// long as the site is up. With WithStaticSites(dockerRuntime,
// processRuntime), a static deployment is serving in tens of
// milliseconds and costs a goroutine and an open listener, while apps with
// code still run in containers with the plan's limits.
//
// Instances are routed by id: an id that static knows (Inspect) is its,
// any other is apps'. List returns both runtimes' instances, so a
// Manager rebuilds its state from both after a restart. Name is apps'
// name; RuntimeOf tells which runtime holds an instance. The Runtime does
// not own the two: close them yourself.
func WithStaticSites(apps, static Runtime) Runtime {
	return &split{apps: apps, static: static}
}

type split struct {
	apps, static Runtime
}

// runtimeRouter is implemented by Runtimes that combine others, so that
// the Manager can name the runtime that builds a plan or holds an instance.
type runtimeRouter interface {
	runtimeFor(p Plan) Runtime
	runtimeOf(ctx context.Context, id string) Runtime
}

// RuntimeFor returns the runtime that rt uses to build and run p: rt
// itself unless rt combines runtimes (WithStaticSites).
func RuntimeFor(rt Runtime, p Plan) Runtime {
	if r, ok := rt.(runtimeRouter); ok {
		return r.runtimeFor(p)
	}
	return rt
}

// RuntimeOf returns the runtime of rt that holds the instance id: rt
// itself unless rt combines runtimes (WithStaticSites).
func RuntimeOf(ctx context.Context, rt Runtime, id string) Runtime {
	if r, ok := rt.(runtimeRouter); ok {
		return r.runtimeOf(ctx, id)
	}
	return rt
}

func (s *split) runtimeFor(p Plan) Runtime {
	if IsStaticSite(p) {
		return s.static
	}
	return s.apps
}

func (s *split) runtimeOf(ctx context.Context, id string) Runtime {
	if _, err := s.static.Inspect(ctx, id); err == nil {
		return s.static
	}
	return s.apps
}

func (s *split) Name() string { return s.apps.Name() }

func (s *split) Build(ctx context.Context, b BuildSpec) (Artifact, error) {
	return s.runtimeFor(b.Plan).Build(ctx, b)
}

func (s *split) Run(ctx context.Context, r RunSpec) (Instance, error) {
	return s.runtimeFor(r.Plan).Run(ctx, r)
}

func (s *split) Start(ctx context.Context, id string) (Instance, error) {
	return s.runtimeOf(ctx, id).Start(ctx, id)
}

func (s *split) Stop(ctx context.Context, id string, timeout time.Duration) error {
	return s.runtimeOf(ctx, id).Stop(ctx, id, timeout)
}

func (s *split) Restart(ctx context.Context, id string) (Instance, error) {
	return s.runtimeOf(ctx, id).Restart(ctx, id)
}

func (s *split) Remove(ctx context.Context, id string) error {
	return s.runtimeOf(ctx, id).Remove(ctx, id)
}

// RemoveArtifact asks static first: an artifact ref names one runtime's
// artifact, and the other answers not found.
func (s *split) RemoveArtifact(ctx context.Context, ref string) error {
	err := s.static.RemoveArtifact(ctx, ref)
	if errors.Is(err, errs.ErrNotFound) {
		return s.apps.RemoveArtifact(ctx, ref)
	}
	return err
}

func (s *split) Logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	return s.runtimeOf(ctx, id).Logs(ctx, id, follow, w)
}

func (s *split) Inspect(ctx context.Context, id string) (Instance, error) {
	if in, err := s.static.Inspect(ctx, id); err == nil {
		return in, nil
	}
	return s.apps.Inspect(ctx, id)
}

func (s *split) List(ctx context.Context, match map[string]string) ([]Instance, error) {
	a, err := s.apps.List(ctx, match)
	if err != nil {
		return nil, err
	}
	b, err := s.static.List(ctx, match)
	if err != nil {
		return nil, err
	}
	return append(a, b...), nil
}
