package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/clusternet"
	"github.com/flotilla-ipfs/flotilla/internal/consensus"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/placement"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// Peer-to-peer calls travel as HTTP/1.1 over clusternet's RPC protocol, so
// only peers holding the cluster secret reach them. Each method has an
// access policy: "any" peer answers it, or only the "leader" (a follower
// answers 421 naming the leader, and the caller retries there).
type policy int

const (
	anyPeer policy = iota
	leaderOnly
)

type method struct {
	path   string
	policy policy
	handle func(ctx context.Context, body []byte, w http.ResponseWriter) error
}

func (p *Peer) methods() []method {
	return []method{
		{"/v1/hello", anyPeer, p.rpcHello},
		{"/v1/join", leaderOnly, p.rpcJoin},
		{"/v1/pins", leaderOnly, p.rpcPins},
		{"/v1/allocate", leaderOnly, p.rpcAllocate},
		{"/v1/unpin", leaderOnly, p.rpcUnpin},
		{"/v1/record", leaderOnly, p.rpcRecord},
		{"/v1/readindex", leaderOnly, p.rpcReadIndex},
		{"/v1/heartbeat", leaderOnly, p.rpcHeartbeat},
		{"/v1/liveness", leaderOnly, p.rpcLiveness},
		{"/v1/status", anyPeer, p.rpcStatus},
		{"/v1/recover", anyPeer, p.rpcRecover},
		{"/v1/members/remove", leaderOnly, p.rpcRemoveMember},
		{"/v1/gc", anyPeer, p.rpcGC},
		{"/v1/links", anyPeer, p.rpcLinks},
		{"/v1/send", anyPeer, p.rpcSend},
	}
}

// rpcHandler serves the methods with their policies.
func (p *Peer) rpcHandler() http.Handler {
	mux := http.NewServeMux()
	for _, m := range p.methods() {
		mux.HandleFunc("POST "+m.path, func(w http.ResponseWriter, r *http.Request) {
			if m.policy == leaderOnly && !p.raft.IsLeader() {
				_, addr := p.raft.Leader()
				writeRPCError(w, http.StatusMisdirectedRequest, rpcError{Error: "not the leader", Kind: "not_leader", Leader: addr})
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
			if err != nil {
				writeRPCError(w, http.StatusBadRequest, rpcError{Error: err.Error()})
				return
			}
			ctx := r.Context()
			if id := r.Header.Get(requestIDHeader); id != "" && len(id) <= 64 {
				ctx = withRequestID(ctx, id)
			}
			if err := m.handle(ctx, body, w); err != nil {
				kind := errorKind(err)
				status := map[string]int{"invalid": http.StatusBadRequest, "not_found": http.StatusNotFound,
					"placement": http.StatusConflict, "not_leader": http.StatusMisdirectedRequest,
					"not_member": http.StatusNotFound, "refused": http.StatusConflict}[kind]
				if status == 0 {
					status = http.StatusInternalServerError
				}
				writeRPCError(w, status, rpcError{Error: err.Error(), Kind: kind})
			}
		})
	}
	// A block stream reads its own body, of any length (see blocks.go).
	mux.HandleFunc("POST /v1/blocks", p.serveBlocks)
	return mux
}

// errorKind names the sentinel an error wraps, for the other side to map
// it back (see remoteError.Unwrap).
func errorKind(err error) string {
	switch {
	case errors.Is(err, pin.ErrInvalid):
		return "invalid"
	case errors.Is(err, pin.ErrNotFound):
		return "not_found"
	case errors.Is(err, placement.ErrNotEnoughPeers):
		return "placement"
	case errors.Is(err, consensus.ErrNotLeader):
		return "not_leader"
	case errors.Is(err, ErrNotMember):
		return "not_member"
	case errors.Is(err, ErrRemoveRefused):
		return "refused"
	}
	return ""
}

func writeRPCError(w http.ResponseWriter, status int, e rpcError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(e)
}

func writeRPC(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// rpcClient calls other peers.
type rpcClient struct {
	hc *http.Client
}

func newRPCClient(n *clusternet.Net) *rpcClient {
	return &rpcClient{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return n.Dial(ctx, addr, clusternet.ProtoRPC)
		},
		// Every forwarded write holds a connection while the leader
		// group-commits: keep enough idle ones that bursts never pay
		// for new TLS handshakes.
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     time.Minute,
	}}}
}

// remoteError is a failure reported by another peer.
type remoteError struct {
	status int
	rpcError
}

func (e *remoteError) Error() string { return e.rpcError.Error }

// Unwrap maps remote failures onto local sentinels, so callers can test
// them with errors.Is wherever the call was served.
func (e *remoteError) Unwrap() error {
	switch e.Kind {
	case "invalid":
		return pin.ErrInvalid
	case "not_found":
		return pin.ErrNotFound
	case "placement":
		return placement.ErrNotEnoughPeers
	case "not_leader":
		return consensus.ErrNotLeader
	case "not_member":
		return ErrNotMember
	case "refused":
		return ErrRemoveRefused
	}
	return nil
}

// call posts req to addr and returns the response body.
func (c *rpcClient) call(ctx context.Context, addr, path string, req any) (*http.Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if id := requestID(ctx); id != "" {
		r.Header.Set(requestIDHeader, id)
	}
	resp, err := c.hc.Do(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		re := &remoteError{status: resp.StatusCode}
		if err := json.NewDecoder(resp.Body).Decode(&re.rpcError); err != nil {
			re.rpcError.Error = fmt.Sprintf("%s: %s", addr, resp.Status)
		}
		return nil, re
	}
	return resp, nil
}

// do is call with a JSON response decoded into out (nil: discarded).
func (c *rpcClient) do(ctx context.Context, addr, path string, req, out any) error {
	resp, err := c.call(ctx, addr, path, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// stream decodes an NDJSON response line by line.
func stream[T any](resp *http.Response, fn func(T) error) error {
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return sc.Err()
}

// toLeader calls a leader-only method, following redirects and waiting out
// elections until ctx ends. Every attempt carries the same request ID: an
// attempt that follows a lost answer may reach a leader that already
// applied the first one, and must get the answer the first would have had
// (see alreadyApplied).
func (p *Peer) toLeader(ctx context.Context, path string, req, out any) error {
	if requestID(ctx) == "" {
		ctx = withRequestID(ctx, rand.Text())
	}
	backoff := 20 * time.Millisecond
	hint := ""
	for {
		addr := hint
		if addr == "" {
			_, addr = p.raft.Leader()
		}
		var err error
		if addr == "" {
			err = consensus.ErrNotLeader
		} else {
			err = p.rpc.do(ctx, addr, path, req, out)
		}
		var re *remoteError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &re) && re.Kind == "not_leader":
			hint = re.Leader
		case errors.As(err, &re):
			return err // a real answer from the leader
		default:
			hint = ""
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no leader reachable: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// requestIDHeader carries the ID of a call to the leader, the same on every
// attempt of the call.
const requestIDHeader = "Flotilla-Request-Id"

type requestIDKey struct{}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// apply commits ops through the log. The ID of the request being served,
// if any, rides in the same entry: the state remembers it for a while, so a
// repeated attempt can learn that its first one took effect.
func (p *Peer) apply(ctx context.Context, ops []state.Op) error {
	if id := requestID(ctx); id != "" {
		ops = append(slices.Clip(ops), state.Op{Kind: state.OpRequest, ID: id, At: time.Now().UTC()})
	}
	return p.raft.Apply(ctx, ops)
}

// alreadyApplied reports whether the request being served was applied by
// an earlier attempt whose answer was lost (a leader that died after
// committing, a cut connection). Writes whose repeat would answer otherwise
// than the first attempt (an unpin that finds no pin) ask it before
// failing. It first catches up with the log, since a new leader may not
// have applied its predecessor's last entries yet.
func (p *Peer) alreadyApplied(ctx context.Context) (bool, error) {
	id := requestID(ctx)
	if id == "" {
		return false, nil
	}
	if err := p.sync(ctx); err != nil {
		return false, err
	}
	return p.st.SeenRequest(id)
}
