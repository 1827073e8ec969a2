package storage

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// canDropPages says whether dropPages does anything on this system.
const canDropPages = true

// dropPages asks the kernel to evict a file's clean pages from the page
// cache. Dirty pages are only scheduled for writeback, so it is meant for
// files already on disk. Errors are ignored: this only saves memory.
func dropPages(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// syncFS writes back everything dirty on dir's file system and flushes the
// device.
func syncFS(dir *os.File) error {
	return unix.Syncfs(int(dir.Fd()))
}

// syncFSReportsErrors says whether syncfs(2) returns writeback errors, which
// it does from Linux 5.8 on (before, it returned 0 whatever happened).
func syncFSReportsErrors() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 8)
}

// kernelAtLeast compares a release string ("6.1.0-13-amd64", "5.8-rc1")
// with major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	leading := func(s string) (int, error) {
		end := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
		if end >= 0 {
			s = s[:end]
		}
		return strconv.Atoi(s)
	}
	gotMajor, err1 := leading(parts[0])
	gotMinor, err2 := leading(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return gotMajor > major || (gotMajor == major && gotMinor >= minor)
}
