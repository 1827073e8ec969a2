// Package version reports what build of flotilla is running, from the Go
// build information (module version and VCS revision), never from a
// hand-edited constant.
package version

import (
	"runtime"
	"runtime/debug"
)

// Info describes the running binary.
type Info struct {
	Version string // module version, "(devel)" for a local build
	Commit  string // VCS revision, empty when not built from a checkout
	Go      string
	System  string // GOARCH/GOOS
}

// Get reads the build information.
func Get() Info {
	info := Info{Version: "(devel)", Go: runtime.Version(), System: runtime.GOARCH + "/" + runtime.GOOS}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			info.Commit = s.Value
		}
	}
	return info
}

// AgentVersion is what the node announces to other libp2p peers.
func AgentVersion() string { return "flotilla/" + Get().Version }
