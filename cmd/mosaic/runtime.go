package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/process"
)

// runtimeFlags registers the deployment runtime's flag.
func (s *settings) runtimeFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.runtime, "runtime", env("MOSAIC_RUNTIME", "process"),
		"where deployed apps run: process (child processes of this server, built with the host's toolchains; no isolation between tenants), docker (a Docker Engine, DOCKER_HOST) or none (MOSAIC_RUNTIME)")
	fs.StringVar(&s.staticSites, "static-sites", env("MOSAIC_STATIC_SITES", "platform"),
		"with -runtime docker, who serves deployed static sites (no code of their own): platform (this server, from the deployed files; serving in milliseconds, no container) or runtime (a busybox container each) (MOSAIC_STATIC_SITES)")
}

// newDockerRuntime opens the Docker runtime; the file that wires package
// deployer/docker into this command sets it. It returns the runtime, the
// base images to build from, and a function that releases it.
var newDockerRuntime func(log *slog.Logger) (deployer.Runtime, deployer.Images, func(), error)

// deployRuntime sets cfg.Runtime from MOSAIC_RUNTIME and returns a function
// that releases it. Apps keep running when the server stops; the next start
// adopts them.
func (s *settings) deployRuntime(cfg *mosaic.Config, log *slog.Logger) (func(), error) {
	switch s.runtime {
	case "none", "":
		log.Info("deployments are off (MOSAIC_RUNTIME=none): deploy routes answer 503")
		return func() {}, nil
	case "process":
		dir, err := filepath.Abs(filepath.Join(s.dataDir, "apps"))
		if err != nil {
			return nil, err
		}
		rt, err := process.New(process.Config{Dir: dir, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("process runtime: %w", err)
		}
		cfg.Runtime = rt
		log.Warn("deployed apps run as child processes of this server (MOSAIC_RUNTIME=process): they are not isolated from each other or from the platform; use MOSAIC_RUNTIME=docker for untrusted code", "dir", dir)
		return func() { rt.Close() }, nil
	case "docker":
		if newDockerRuntime == nil {
			return nil, errors.New("MOSAIC_RUNTIME=docker: this build has no Docker runtime")
		}
		rt, images, closeRT, err := newDockerRuntime(log)
		if err != nil {
			return nil, fmt.Errorf("docker runtime: %w", err)
		}
		cfg.Runtime, cfg.DeployImages = rt, images
		switch s.staticSites {
		case "runtime":
			return closeRT, nil
		case "platform", "":
		default:
			closeRT()
			return nil, fmt.Errorf("MOSAIC_STATIC_SITES=%q: use platform or runtime", s.staticSites)
		}
		// Static sites run no tenant code: this server serves their files
		// (deployer.WithStaticSites), as the process runtime does.
		dir, err := filepath.Abs(filepath.Join(s.dataDir, "sites"))
		if err != nil {
			closeRT()
			return nil, err
		}
		static, err := process.New(process.Config{Dir: dir, Logger: log})
		if err != nil {
			closeRT()
			return nil, fmt.Errorf("static sites: %w", err)
		}
		cfg.Runtime = deployer.WithStaticSites(rt, static)
		return func() { static.Close(); closeRT() }, nil
	}
	return nil, fmt.Errorf("MOSAIC_RUNTIME=%q: use process, docker or none", s.runtime)
}
