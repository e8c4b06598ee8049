//go:build !linux

package storage

import "os"

func (l *Local) openBeneath(name string) (*os.File, error) { return l.root.Open(name) }

func openDirHandle(string) *os.File { return nil }
