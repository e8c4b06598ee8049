package main

import (
	"log/slog"
	"os"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/deployer/docker"
)

// MOSAIC_RUNTIME=docker runs deployments on the Docker Engine at DOCKER_HOST
// (else the default socket). MOSAIC_DOCKER_IMAGES=local builds from the
// images scripts/setup-docker makes (deployer.LocalImages, for machines
// without a registry); the default is the official images
// (deployer.DefaultImages).
func init() {
	newDockerRuntime = func(log *slog.Logger) (deployer.Runtime, deployer.Images, func(), error) {
		rt, err := docker.New(docker.Config{Logger: log})
		if err != nil {
			return nil, deployer.Images{}, nil, err
		}
		images := deployer.DefaultImages()
		if os.Getenv("MOSAIC_DOCKER_IMAGES") == "local" {
			images = deployer.LocalImages()
		}
		log.Info("deployed apps run on Docker Engine (MOSAIC_RUNTIME=docker)", "images", images)
		return rt, images, func() { rt.Close() }, nil
	}
}
