package docker

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/mosaic-platform/mosaic/deployer"
	"github.com/mosaic-platform/mosaic/errs"
)

// shortcut is a Dockerfile that Build makes without the builder: one FROM
// of an image, then only WORKDIR, ENV, EXPOSE and CMD instructions and at
// most one COPY of the whole build context to a directory. The generated
// Dockerfiles of stacks with no build step (a static site, a Node app
// without dependencies) are of this kind.
type shortcut struct {
	from    string
	workdir string
	env     []string
	expose  network.PortSet
	cmd     []string
	dest    string // where the COPY puts the context; "" when none
}

// parseShortcut reports whether dockerfile is a shortcut, and which. It
// takes the conservative side: any instruction, flag or variable it does
// not handle exactly as the builder would sends the build to the builder.
func parseShortcut(dockerfile string) (shortcut, bool) {
	var s shortcut
	for _, raw := range strings.Split(dockerfile, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			return s, false // continuation lines
		}
		instr, args, _ := strings.Cut(line, " ")
		args = strings.TrimSpace(args)
		if strings.Contains(args, "$") && !strings.EqualFold(instr, "CMD") {
			return s, false // build-time variable expansion
		}
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(args)
			if s.from != "" || len(f) == 0 || strings.HasPrefix(f[0], "-") || f[0] == "scratch" ||
				!(len(f) == 1 || len(f) == 3 && strings.EqualFold(f[1], "AS")) {
				return s, false
			}
			s.from = f[0]
		case "WORKDIR":
			if !path.IsAbs(args) || strings.ContainsAny(args, " \t\"'") {
				return s, false
			}
			s.workdir = path.Clean(args)
		case "ENV":
			k, v, ok := strings.Cut(args, "=")
			if !ok || k == "" || strings.ContainsAny(k, " \t\"'\\") {
				return s, false
			}
			if strings.HasPrefix(v, `"`) {
				u, err := strconv.Unquote(v)
				if err != nil {
					return s, false
				}
				v = u
			} else if strings.ContainsAny(v, " \t\"'\\") {
				return s, false
			}
			s.setEnv(k, v)
		case "EXPOSE":
			for _, p := range strings.Fields(args) {
				num, proto, _ := strings.Cut(p, "/")
				if n, err := strconv.Atoi(num); err != nil || n < 1 || n > 65535 {
					return s, false
				}
				if proto == "" {
					proto = "tcp"
				}
				port, err := network.ParsePort(num + "/" + proto)
				if err != nil {
					return s, false
				}
				if s.expose == nil {
					s.expose = network.PortSet{}
				}
				s.expose[port] = struct{}{}
			}
		case "CMD":
			if strings.HasPrefix(args, "[") {
				var words []string
				if json.Unmarshal([]byte(args), &words) != nil || len(words) == 0 {
					return s, false
				}
				s.cmd = words
			} else if args != "" {
				s.cmd = []string{"/bin/sh", "-c", args}
			} else {
				return s, false
			}
		case "COPY":
			f := strings.Fields(args)
			if s.dest != "" || len(f) != 2 || f[0] != "." || strings.HasPrefix(f[1], "-") {
				return s, false
			}
			dest := f[1]
			if !path.IsAbs(dest) {
				dest = path.Join("/", s.workdir, dest)
			}
			s.dest = path.Clean(dest)
		default:
			return s, false
		}
	}
	return s, s.from != ""
}

func (s *shortcut) setEnv(k, v string) {
	for i, kv := range s.env {
		if strings.HasPrefix(kv, k+"=") {
			s.env[i] = k + "=" + v
			return
		}
	}
	s.env = append(s.env, k+"="+v)
}

// commitBuild makes the image of a shortcut Dockerfile without the builder:
// a container of the FROM image (created, never started) with the
// Dockerfile's configuration, the source tar copied into it at the COPY's
// destination (owned by root, as COPY does), committed as b.Tag. The image
// has the configuration and the files the builder would give it, in one
// layer; the Dockerfile itself is not copied into it.
func (r *Runtime) commitBuild(ctx context.Context, b deployer.BuildSpec, sc shortcut, logs io.Writer) (deployer.Artifact, error) {
	fmt.Fprintf(logs, "Building without the builder (no RUN step in the Dockerfile): a container of %s", sc.from)
	if sc.dest != "" {
		fmt.Fprintf(logs, ", the source copied to %s", sc.dest)
	}
	fmt.Fprintf(logs, ", committed\n")
	labels := make(map[string]string, len(b.Labels))
	for k, v := range b.Labels {
		labels[k] = v
	}
	cfg := &container.Config{Image: sc.from, Env: sc.env, Cmd: sc.cmd, WorkingDir: sc.workdir, ExposedPorts: sc.expose, Labels: labels}
	created, err := r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     cfg,
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			fmt.Fprintf(logs, "no image %s\n", sc.from)
			return deployer.Artifact{}, errs.Wrap(errs.Invalid, err, "build_failed", "build failed: no image %q", sc.from)
		}
		return deployer.Artifact{}, r.daemonErr(ctx, err, "create the build container")
	}
	defer func() {
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := r.cli.ContainerRemove(rmCtx, created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			r.log.WarnContext(rmCtx, "docker: could not remove a build container", "id", created.ID, "err", err)
		}
	}()
	if sc.dest != "" && b.Source != nil {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(rebaseTar(pw, b.Source, sc.dest)) }()
		_, err := r.cli.CopyToContainer(ctx, created.ID, client.CopyToContainerOptions{DestinationPath: "/", Content: pr})
		pr.Close()
		if err != nil {
			return deployer.Artifact{}, r.daemonErr(ctx, err, "copy the source into the build container")
		}
	}
	res, err := r.cli.ContainerCommit(ctx, created.ID, client.ContainerCommitOptions{
		Reference: b.Tag, Config: cfg, NoPause: true, Comment: "mosaic: the Dockerfile's configuration and COPY, without the builder",
	})
	if err != nil {
		return deployer.Artifact{}, r.daemonErr(ctx, err, "commit the image")
	}
	id, ref := res.ID, b.Tag
	if ref == "" {
		ref = id
	}
	fmt.Fprintf(logs, "Successfully built %s\n", strings.TrimPrefix(id, "sha256:")[:min(12, len(strings.TrimPrefix(id, "sha256:")))])
	if b.Tag != "" {
		fmt.Fprintf(logs, "Successfully tagged %s\n", b.Tag)
	}
	r.log.DebugContext(ctx, "docker: built without the builder", "tag", b.Tag, "image", id)
	return deployer.Artifact{ID: id, Ref: ref}, nil
}

// rebaseTar copies the tar src to w with every entry under dir (absolute),
// owned by root, after the entries of dir and its parents; pax global
// headers (git archive's commit id) are left out.
func rebaseTar(w io.Writer, src io.Reader, dir string) error {
	tw := tar.NewWriter(w)
	rel := strings.TrimPrefix(path.Clean(dir), "/")
	if rel != "" {
		parts := strings.Split(rel, "/")
		for i := range parts {
			if err := tw.WriteHeader(&tar.Header{Name: strings.Join(parts[:i+1], "/") + "/", Mode: 0o755,
				Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
				return err
			}
		}
	}
	err := copyTar(tw, src, func(h *tar.Header) *tar.Header {
		if h.Typeflag == tar.TypeXGlobalHeader {
			return nil
		}
		name := path.Clean(strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/"))
		if name == "." || name == ".." || strings.HasPrefix(name, "../") || name == DockerfileName {
			return nil
		}
		hdr := *h
		hdr.Name = path.Join(rel, name)
		if h.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			hdr.Linkname = path.Join(rel, path.Clean(strings.TrimPrefix(h.Linkname, "./")))
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
		hdr.PAXRecords = nil
		hdr.Format = tar.FormatUnknown
		return &hdr
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
