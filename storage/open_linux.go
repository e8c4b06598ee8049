package storage

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openBeneath opens name (relative to the store's directory) read-only in
// one openat2 call that the kernel confines to the directory
// (RESOLVE_BENEATH: no "..", absolute path or symlink out of it). os.Root
// gives the same guarantee with one openat per path segment; objects sit
// seven segments deep, and serving them is the hot path. Kernels without
// openat2 (before 5.6, or a seccomp filter) fall back to os.Root.
func (l *Local) openBeneath(name string) (*os.File, error) {
	if l.dirf != nil && !l.noOpenat2.Load() {
		fd, err := unix.Openat2(int(l.dirf.Fd()), name, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == nil {
			return os.NewFile(uintptr(fd), name), nil
		}
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return nil, &fs.PathError{Op: "openat2", Path: name, Err: err}
		}
		l.noOpenat2.Store(true)
	}
	return l.root.Open(name)
}

func openDirHandle(dir string) *os.File {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	return f
}
