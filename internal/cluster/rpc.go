package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/blockstream"
	"github.com/flotilla-ipfs/flotilla/internal/clusternet"
	"github.com/flotilla-ipfs/flotilla/internal/consensus"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
	"github.com/flotilla-ipfs/flotilla/internal/placement"
	"github.com/flotilla-ipfs/flotilla/internal/state"
)

// Peer-to-peer calls travel as HTTP/1.1 over clusternet's RPC protocol, so
// only peers holding the cluster secret reach them. Each call is an
// endpoint: its path, its access policy, and what the answering peer does
// (serve, typed). An operation of the leader starts with
// call(ctx, p, unpinCall, req): served here on the leader, forwarded to it
// from a follower, as Nomad's endpoints start with forward(...).
type policy int

const (
	anyPeer    policy = iota // any peer answers
	leaderOnly               // a follower answers 421 naming the leader; callers retry there
)

// endpoint is one peer call. Req and Resp are its JSON bodies (wire.go).
type endpoint[Req, Resp any] struct {
	path   string
	policy policy
	serve  func(p *Peer, ctx context.Context, req Req) (Resp, error)
}

func newEndpoint[Req, Resp any](path string, pol policy, serve func(*Peer, context.Context, Req) (Resp, error)) *endpoint[Req, Resp] {
	return &endpoint[Req, Resp]{path: path, policy: pol, serve: serve}
}

var (
	helloCall        = newEndpoint("/v1/hello", anyPeer, (*Peer).serveHello)
	joinCall         = newEndpoint("/v1/join", leaderOnly, (*Peer).leaderJoin)
	pinsCall         = newEndpoint("/v1/pins", leaderOnly, (*Peer).leaderPins)
	allocateCall     = newEndpoint("/v1/allocate", leaderOnly, (*Peer).leaderAllocate)
	unpinCall        = newEndpoint("/v1/unpin", leaderOnly, (*Peer).leaderUnpin)
	recordCall       = newEndpoint("/v1/record", leaderOnly, (*Peer).leaderWriteRecord)
	readIndexCall    = newEndpoint("/v1/readindex", leaderOnly, (*Peer).leaderReadIndex)
	heartbeatCall    = newEndpoint("/v1/heartbeat", leaderOnly, (*Peer).leaderHeartbeat)
	livenessCall     = newEndpoint("/v1/liveness", leaderOnly, (*Peer).leaderLiveness)
	removeMemberCall = newEndpoint("/v1/members/remove", leaderOnly, (*Peer).leaderRemoveMember)
	recoverCall      = newEndpoint("/v1/recover", anyPeer, (*Peer).serveRecover)
	gcCall           = newEndpoint("/v1/gc", anyPeer, (*Peer).serveGC)
	linksCall        = newEndpoint("/v1/links", anyPeer, (*Peer).serveLinks)
	sendCall         = newEndpoint("/v1/send", anyPeer, (*Peer).serveSend)
	// gcHoldCall and gcReleaseCall are in sharedgc.go.
)

// rpcHandler serves the calls. The status stream (/v1/status) and the
// block stream (/v1/blocks) write or read bodies of any length and have
// handlers of their own; they answer failures with the same table.
func (p *Peer) rpcHandler() http.Handler {
	mux := http.NewServeMux()
	for _, e := range []interface{ handle(*http.ServeMux, *Peer) }{
		helloCall, joinCall, pinsCall, allocateCall, unpinCall, recordCall, readIndexCall,
		heartbeatCall, livenessCall, removeMemberCall, recoverCall, gcCall, linksCall, sendCall,
		gcHoldCall, gcReleaseCall,
	} {
		e.handle(mux, p)
	}
	mux.HandleFunc("POST /v1/status", p.serveStatus)
	mux.HandleFunc("POST "+blocksPath, p.serveBlocks)
	return mux
}

// handle serves e on mux: the policy is checked, the request decoded (a
// body that does not decode is pin.ErrInvalid), served, and the answer or
// the failure encoded.
func (e *endpoint[Req, Resp]) handle(mux *http.ServeMux, p *Peer) {
	mux.HandleFunc("POST "+e.path, func(w http.ResponseWriter, r *http.Request) {
		if e.policy == leaderOnly && !p.raft.IsLeader() {
			_, addr := p.raft.Leader()
			writeError(w, consensus.ErrNotLeader, addr)
			return
		}
		ctx := r.Context()
		if id := r.Header.Get(requestIDHeader); id != "" && len(id) <= 64 {
			ctx = withRequestID(ctx, id)
		}
		var req Req
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&req); err != nil {
			writeError(w, fmt.Errorf("%w: %s: %v", pin.ErrInvalid, e.path, err), "")
			return
		}
		resp, err := e.serve(p, ctx, req)
		if err != nil {
			writeError(w, err, "")
			return
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// call makes a call of the cluster: served here unless it is leader-only
// and this peer does not lead, then forwarded to the leader (toLeader).
func call[Req, Resp any](ctx context.Context, p *Peer, e *endpoint[Req, Resp], req Req) (Resp, error) {
	if e.policy != leaderOnly {
		return e.serve(p, ctx, req)
	}
	if requestID(ctx) == "" {
		ctx = withRequestID(ctx, rand.Text())
	}
	if p.raft.IsLeader() {
		resp, err := e.serve(p, ctx, req)
		if !errors.Is(err, consensus.ErrNotLeader) {
			return resp, err
		}
		// Leadership was lost while serving, perhaps with the write
		// committed: the new leader answers, as the first attempt would
		// have (same request ID).
	}
	return toLeader(ctx, p, e, req)
}

// callPeer makes a call of the peer at addr, once.
func callPeer[Req, Resp any](ctx context.Context, p *Peer, addr string, e *endpoint[Req, Resp], req Req) (Resp, error) {
	var out Resp
	resp, err := p.rpc.post(ctx, addr, e.path, req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&out)
	io.Copy(io.Discard, resp.Body) // to the end, so the connection is reused
	return out, err
}

// toLeader calls a leader-only endpoint at the leader, following redirects
// and waiting out elections until ctx ends. Every attempt carries the same
// request ID: an attempt that follows a lost answer may reach a leader that
// already applied the first one, and must get the answer the first would
// have had (see alreadyApplied).
func toLeader[Req, Resp any](ctx context.Context, p *Peer, e *endpoint[Req, Resp], req Req) (Resp, error) {
	if requestID(ctx) == "" { // callers other than call
		ctx = withRequestID(ctx, rand.Text())
	}
	backoff := 20 * time.Millisecond
	hint := ""
	giveUp := time.Now().Add(noLeaderWait)
	for {
		addr := hint
		if addr == "" {
			_, addr = p.raft.Leader()
		}
		var resp Resp
		var err error
		if addr == "" {
			err = consensus.ErrNotLeader
		} else {
			resp, err = callPeer(ctx, p, addr, e, req)
		}
		var re *remoteError
		switch {
		case err == nil:
			return resp, nil
		case errors.As(err, &re) && (re.Kind == kindNotLeader || re.Kind == kindCanceled):
			hint = re.Leader
		case errors.As(err, &re):
			return resp, err // a real answer from the leader
		default:
			hint = ""
		}
		if time.Now().After(giveUp) {
			return resp, fmt.Errorf("%w: no raft leader answered within %s (last error: %v)", pin.ErrUnavailable, noLeaderWait, err)
		}
		select {
		case <-ctx.Done():
			return resp, fmt.Errorf("no leader reachable: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// noLeaderWait is how long a call looks for a leader before it fails with
// pin.ErrUnavailable, rather than hold its client until the client gives
// up: a few elections' worth (one takes one to two raft heartbeat
// timeouts), so that a leader change under load goes unnoticed while a
// peer cut off from the quorum answers promptly. A var for tests.
var noLeaderWait = 10 * time.Second

// errorKinds is the one table of the failures a call carries from the peer
// that answers it to the caller: the sentinel, its name on the wire, the
// HTTP status. The caller gets back the first sentinel of the kind (see
// remoteError.Unwrap), so callers test failures with errors.Is wherever
// the call was served.
var errorKinds = []struct {
	err    error
	kind   string
	status int
}{
	{pin.ErrInvalid, "invalid", http.StatusBadRequest},
	{blockstream.ErrBadFrame, "invalid", http.StatusBadRequest}, // a block stream's
	{block.ErrBad, "invalid", http.StatusBadRequest},
	{pin.ErrNotFound, "not_found", http.StatusNotFound},
	{pin.ErrUnavailable, "unavailable", http.StatusServiceUnavailable},
	{placement.ErrNotEnoughPeers, "placement", http.StatusConflict},
	{consensus.ErrNotLeader, kindNotLeader, http.StatusMisdirectedRequest},
	{ErrNotMember, "not_member", http.StatusNotFound},
	{ErrRemoveRefused, "refused", http.StatusConflict},
	{ErrGCRunning, "gc_running", http.StatusConflict},
	// The call's connection broke while the peer served it (a partition):
	// its outcome is unknown, and the answer may still slip through.
	// toLeader asks again, with the same request ID.
	{context.Canceled, kindCanceled, http.StatusServiceUnavailable},
}

const (
	kindNotLeader = "not_leader"
	kindCanceled  = "canceled"
)

// errorKind names the sentinel err wraps and the status that answers it:
// "" and 500 for any other failure.
func errorKind(err error) (kind string, status int) {
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k.kind, k.status
		}
	}
	return "", http.StatusInternalServerError
}

// writeError answers a failed call; leader is the leader's address, when
// the failure is that this peer does not lead.
func writeError(w http.ResponseWriter, err error, leader string) {
	kind, status := errorKind(err)
	writeJSON(w, status, rpcError{Error: err.Error(), Kind: kind, Leader: leader})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// remoteError is a failure reported by another peer.
type remoteError struct{ rpcError }

func (e *remoteError) Error() string { return e.rpcError.Error }

// Unwrap maps the failure's kind back onto its sentinel.
func (e *remoteError) Unwrap() error {
	for _, k := range errorKinds {
		if k.kind == e.Kind {
			return k.err
		}
	}
	return nil
}

// readError reads the failure a peer answered (status 300 or more).
func readError(addr string, resp *http.Response) error {
	re := &remoteError{}
	if err := json.NewDecoder(resp.Body).Decode(&re.rpcError); err != nil {
		re.rpcError = rpcError{Error: fmt.Sprintf("%s: %s", addr, resp.Status)}
	}
	return re
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

// post sends req as JSON to path at addr and returns the successful
// response, whose body the caller reads and closes.
func (c *rpcClient) post(ctx context.Context, addr, path string, req any) (*http.Response, error) {
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
		return nil, readError(addr, resp)
	}
	return resp, nil
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
