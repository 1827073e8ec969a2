//go:build !linux

package storage

import (
	"errors"
	"os"
)

// canDropPages says whether dropPages does anything on this system:
// posix_fadvise is Linux's (macOS has no equivalent that drops clean pages).
const canDropPages = false

func dropPages(string) {}

// syncFSReportsErrors is false: there is no syncfs(2) here, so blocks are
// fsynced one by one.
func syncFSReportsErrors() bool { return false }

func syncFS(*os.File) error { return errors.New("storage: syncfs is Linux's") }
