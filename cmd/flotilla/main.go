// Command flotilla is a self-hosted IPFS storage peer: `flotilla daemon`
// runs it; every other subcommand works on its content, through the running
// daemon's RPC address or, when no daemon holds the data directory, directly
// on the directory.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	// Root certificates compiled in, used when the system has none: the
	// container image is FROM scratch, and S3 and other HTTPS endpoints
	// must still verify.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/flotilla-ipfs/flotilla/internal/apiclient"
	"github.com/flotilla-ipfs/flotilla/internal/config"
	"github.com/flotilla-ipfs/flotilla/internal/daemon"
	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
	"github.com/flotilla-ipfs/flotilla/internal/logbridge"
	"github.com/flotilla-ipfs/flotilla/internal/repo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// globals are the flags every subcommand has.
type globals struct {
	cfg       daemon.Config // data dir and storage settings live here too
	rpc       string
	json      bool
	logLevel  string
	logFormat string
	cfgFile   string
	api       apiOptions // the cluster commands' REST API
}

func newRoot() *cobra.Command {
	g := &globals{cfg: daemon.DefaultConfig()}
	root := &cobra.Command{
		Use:           "flotilla",
		Short:         "A self-hosted IPFS storage cluster in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			// The environment fills whatever the command line left unset;
			// the settings file only concerns the daemon (see daemonCmd).
			if err := config.CheckCommandLine(cmd.Flags()); err != nil {
				return err
			}
			return config.Overlay(cmd.Flags(), os.LookupEnv, nil)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.cfg.Data, "data", g.cfg.Data, "data directory")
	pf.StringVar(&g.rpc, "rpc", "", "RPC address (host:port) of a running daemon; default: the daemon holding --data, else the data directory itself")
	pf.BoolVar(&g.json, "json", false, "print machine-readable JSON")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.cfgFile, "config", "", "settings file (JSON, keys are flag names); default <data>/config.json when present")
	bindCredentialFlags(pf, &g.api)

	root.AddCommand(daemonCmd(g), configCmd(g), versionCmd(g), authCmd(g), imageCmd(g), siteCmd(g))
	addContentCommands(root, g)
	clusterCommands(root, g)
	return root
}

// logger builds the process's slog logger from the log flags, and routes
// the libraries' loggers (go-log, libp2p) into it; raft's goes through it
// too (consensus). A record carries one component attribute, the innermost.
func (g *globals) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", g.logLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch g.logFormat {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
	}
	log := slog.New(logbridge.OneComponent(h))
	// The libraries are chattier than flotilla: errors only, as go-log's
	// and Kubo's default (GOLOG_LOG_LEVEL, when set, decides instead).
	logbridge.GoLog(log, max(level, slog.LevelError))
	return log, nil
}

// settingsFile returns the settings file to read and whether it may be
// absent (only the default location may).
func (g *globals) settingsFile() (string, bool) {
	if g.cfgFile != "" {
		return g.cfgFile, false
	}
	return filepath.Join(g.cfg.Data, "config.json"), true
}

// remote returns a client for the daemon the command should talk to: the
// one named by --rpc, or the one holding the data directory. nil when no
// daemon holds the directory.
func (g *globals) remote() (*kuborpc.Client, error) {
	base := ""
	if g.rpc != "" {
		base = baseURL(g.rpc)
	} else {
		locked, err := repo.Locked(g.cfg.Data)
		if err != nil || !locked {
			return nil, err
		}
		l, err := repo.ReadListen(g.cfg.Data)
		if err != nil || l.RPC == "" {
			return nil, fmt.Errorf("a daemon holds %s but its RPC address is unknown (is --rpc-listen empty?): pass --rpc", g.cfg.Data)
		}
		base = "http://" + l.RPC
		if l.TLS {
			base = "https://" + l.RPC
		}
	}
	// The RPC port is an admin port: same credentials and TLS as the API.
	auth, err := g.api.credentials()
	if err != nil {
		return nil, err
	}
	rt, err := apiclient.Transport(g.api.ca)
	if err != nil {
		return nil, err
	}
	return kuborpc.NewClient(base, &http.Client{Transport: apiclient.WithAuth(rt, auth)}), nil
}

// openLocal opens the data directory in this process, offline, with the
// daemon's settings (daemonSettings): a directory whose blocks are in S3
// is opened on its bucket.
func (g *globals) openLocal(ctx context.Context) (*daemon.Local, *slog.Logger, error) {
	log, err := g.logger(os.Stderr)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := g.daemonSettings()
	if err != nil {
		return nil, nil, err
	}
	local, err := daemon.OpenLocal(ctx, g.cfg.Data, cfg, log)
	return local, log, err
}

// daemonSettings reads the daemon's settings as `flotilla daemon` would
// from the FLOTILLA_* variables and the settings file, for a command that
// opens the data directory without a daemon. The settings file's keys of
// global flags are left to those.
func (g *globals) daemonSettings() (daemon.Config, error) {
	cfg := g.cfg
	fs := pflag.NewFlagSet("daemon", pflag.ContinueOnError)
	bindDaemonFlags(fs, &cfg)
	path, optional := g.settingsFile()
	file, err := config.LoadFile(path, optional)
	if err != nil {
		return cfg, err
	}
	own := config.File{}
	for k, v := range file {
		if fs.Lookup(k) != nil {
			own[k] = v
		}
	}
	if err := config.Overlay(fs, os.LookupEnv, own); err != nil {
		return cfg, err
	}
	return cfg, cfg.Storage.Validate()
}

// client returns an RPC client for the content commands and a function that
// releases what it opened. The daemon holding the data directory is used
// when there is one; otherwise the directory is opened here, offline, and
// served to the client over a private unix socket, so both cases run the
// very same request path.
func (g *globals) client(ctx context.Context) (*kuborpc.Client, func() error, error) {
	if c, err := g.remote(); c != nil || err != nil {
		return c, func() error { return nil }, err
	}
	local, log, err := g.openLocal(ctx)
	if err != nil {
		return nil, nil, err
	}
	sockDir, err := os.MkdirTemp("", "flotilla-cli-")
	if err != nil {
		local.Close()
		return nil, nil, err
	}
	sock := filepath.Join(sockDir, "rpc.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		local.Close()
		os.RemoveAll(sockDir)
		return nil, nil, err
	}
	srv := &http.Server{Handler: kuborpc.NewHandler(kuborpc.Deps{
		Node: local.Node, Identity: local.Repo.Identity, RepoPath: local.Repo.Path, Config: func() any { return nil }, S3: local.S3Stat, Logger: log,
	})}
	go srv.Serve(ln)
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		// Uploads are the bulk of this socket's traffic: large writes
		// mean fewer syscalls and chunk headers per GiB.
		WriteBufferSize: 1 << 20,
		ReadBufferSize:  64 << 10,
	}}
	closer := func() error {
		err := srv.Close()
		os.RemoveAll(sockDir)
		return errors.Join(err, local.Close())
	}
	return kuborpc.NewClient("http://flotilla-local", hc), closer, nil
}

// baseURL accepts host:port, a URL, or a Kubo-style /ip4/…/tcp/… multiaddr.
func baseURL(addr string) string {
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimRight(addr, "/")
	}
	if strings.HasPrefix(addr, "/") {
		parts := strings.Split(strings.Trim(addr, "/"), "/")
		if len(parts) >= 4 {
			return "http://" + net.JoinHostPort(parts[1], parts[3])
		}
	}
	return "http://" + addr
}
