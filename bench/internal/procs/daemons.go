package procs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/repo"
)

// StartTimeout bounds how long a daemon may take to be ready.
const StartTimeout = 60 * time.Second

// Kubo is a running kubo daemon.
type Kubo struct {
	*Proc
	Repo    string
	API     string // RPC API multiaddr (what --api takes)
	APIAddr string // the same as host:port
	Gateway string // http://host:port
	PeerID  string
	Swarm   []string // listen multiaddrs, with /p2p/
}

// Env is the environment of ipfs commands on this repo.
func (k *Kubo) Env() []string { return KuboEnv(k.Repo) }

// KuboEnv is the environment of ipfs commands on repo: IPFS_PATH, and
// telemetry off (kubo 0.43 otherwise plans HTTP posts to the internet).
func KuboEnv(repo string) []string {
	return append(os.Environ(), "IPFS_PATH="+repo, "IPFS_TELEMETRY=off")
}

// KuboConfig is kubo 0.43's "test" profile (every address on 127.0.0.1
// with port 0, no bootstrap peers, no mDNS, no NAT port mapping, no
// AutoConf fetch) and no routing at all: nothing leaves the loopback
// interface. Peers find blocks over bitswap from the peers they are
// connected to.
var KuboConfig = [][2]string{
	{"Routing.Type", `"none"`},
	{"Plugins.Plugins.telemetry.Config.Mode", `"off"`},
}

var kuboListen = regexp.MustCompile(`(RPC API|Gateway) server listening on (/ip4/([0-9.]+)/tcp/([0-9]+))`)

// InitKubo initialises a repo with kubo's defaults, KuboConfig and
// extra settings (keys with JSON values).
func InitKubo(ctx context.Context, bin, repoDir string, extra [][2]string) error {
	env := KuboEnv(repoDir)
	if _, err := Output(ctx, env, bin, "init", "--empty-repo", "--profile=test"); err != nil {
		return err
	}
	for _, kv := range append(append([][2]string(nil), KuboConfig...), extra...) {
		if _, err := Output(ctx, env, bin, "config", "--json", kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// StartKubo initialises repoDir when it holds no repo yet (InitKubo with
// extra), then starts `ipfs daemon` on it, with args added after
// "daemon", and returns once the daemon is ready.
func (g *Group) StartKubo(ctx context.Context, bin, name, repoDir string, extra [][2]string, args ...string) (*Kubo, error) {
	if _, err := os.Stat(filepath.Join(repoDir, "config")); err != nil {
		if err := InitKubo(ctx, bin, repoDir, extra); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"daemon"}, args...)...)
	cmd.Env = KuboEnv(repoDir)
	p, err := g.Start(name, cmd, filepath.Clean(repoDir)+".log")
	if err != nil {
		return nil, err
	}
	if _, err := p.WaitLine(ctx, StartTimeout, "Daemon is ready"); err != nil {
		p.Stop()
		return nil, err
	}
	k := &Kubo{Proc: p, Repo: repoDir}
	for _, line := range []string{"RPC API", "Gateway"} {
		l, _ := p.WaitLine(ctx, time.Second, line+" server listening on")
		m := kuboListen.FindStringSubmatch(l)
		if m == nil {
			p.Stop()
			return nil, fmt.Errorf("%s: no %s address in its output", name, line)
		}
		if m[1] == "RPC API" {
			k.API, k.APIAddr = m[2], m[3]+":"+m[4]
		} else {
			k.Gateway = "http://" + m[3] + ":" + m[4]
		}
	}
	var id struct {
		ID        string
		Addresses []string
	}
	if err := KuboRPC(ctx, k.APIAddr, "id", &id); err != nil {
		p.Stop()
		return nil, err
	}
	k.PeerID, k.Swarm = id.ID, id.Addresses
	return k, nil
}

// KuboRPC calls the Kubo RPC API at addr (host:port): POST
// /api/v0/path (with its query), decoding the answer into v unless v is
// nil.
func KuboRPC(ctx context.Context, addr, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/api/v0/"+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("POST /api/v0/%s: %s: %s", path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if v == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Flotilla is a running flotilla daemon.
type Flotilla struct {
	*Proc
	Dir    string
	Listen repo.Listen
}

// RPCMultiaddr is the Kubo RPC API address as a multiaddr (what kubo's
// --api takes).
func (f *Flotilla) RPCMultiaddr() string {
	host, port, _ := strings.Cut(f.Listen.RPC, ":")
	return "/ip4/" + host + "/tcp/" + port
}

// StartFlotilla starts `flotilla --data dir daemon` with every HTTP
// service on 127.0.0.1:0 and the given extra daemon flags, and returns
// once /ready answers 200, with the bound addresses from listen.json.
func (g *Group) StartFlotilla(ctx context.Context, bin, name, dir string, extra ...string) (*Flotilla, error) {
	args := append([]string{"--data", dir, "--log-level", "warn", "daemon",
		"--rpc-listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0",
		"--api-listen", "127.0.0.1:0", "--pinsvc-listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLOTILLA_") { // only the flags given here
			cmd.Env = append(cmd.Env, kv)
		}
	}
	p, err := g.Start(name, cmd, filepath.Clean(dir)+".log")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(StartTimeout)
	for {
		if l, err := repo.ReadListen(dir); err == nil && l.PID == p.Pid() && l.Ops != "" {
			if resp, err := http.Get("http://" + l.Ops + "/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return &Flotilla{Proc: p, Dir: dir, Listen: l}, nil
				}
			}
		}
		select {
		case <-p.Done():
			return nil, fmt.Errorf("%s exited during start: %s", name, p.Tail())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s not ready after %s: %s", name, StartTimeout, p.Tail())
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}
