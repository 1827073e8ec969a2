package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// canDropPages says whether dropPages does anything on this system.
const canDropPages = true

// dropPages asks the kernel to evict a file's clean pages from the page
// cache. Dirty pages are only scheduled for writeback, so it is meant for
// files already fsynced. Errors are ignored: this only saves memory.
func dropPages(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
