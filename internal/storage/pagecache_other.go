//go:build !linux

package storage

// canDropPages says whether dropPages does anything on this system:
// posix_fadvise is Linux's (macOS has no equivalent that drops clean pages).
const canDropPages = false

func dropPages(string) {}
