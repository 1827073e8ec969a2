package blockstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// memStore is a node in memory that records what a stream did to it.
type memStore struct {
	mu      sync.Mutex
	locks   int                // PinLock holders now
	blocks  map[cid.Cid][]byte // written
	durable int                // blocks written before the last SyncBlocks
	marked  []cid.Cid
	// markedLocked: every MarkReceived came with the pin lock held.
	markedLocked bool
}

func newMemStore() *memStore { return &memStore{blocks: map[cid.Cid][]byte{}, markedLocked: true} }

func (m *memStore) PinLock(context.Context) func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.locks++
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.locks--
	}
}

func (m *memStore) PutBlocks(_ context.Context, bs []blocks.Block) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range bs {
		m.blocks[b.Cid()] = bytes.Clone(b.RawData()) // Receive's buffers are reused
	}
	return nil
}

func (m *memStore) SyncBlocks(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.durable = len(m.blocks)
	return nil
}

func (m *memStore) MarkReceived(roots []cid.Cid, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.marked = append(m.marked, roots...)
	m.markedLocked = m.markedLocked && m.locks > 0
}

// holds reports whether m holds every block, durably.
func (m *memStore) holds(bs []blocks.Block) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range bs {
		if !bytes.Equal(m.blocks[b.Cid()], b.RawData()) {
			return fmt.Errorf("lacks %s", b.Cid())
		}
	}
	if m.durable != len(m.blocks) {
		return fmt.Errorf("%d blocks of %d synced", m.durable, len(m.blocks))
	}
	return nil
}

// peers are receiving stores by address, reached in process: Send hands
// the stream's body to Receive as the cluster's call would.
type peers map[string]*memStore

func (ps peers) send(ctx context.Context, addr string, body io.Reader) (Ack, error) {
	return Receive(ctx, ps[addr], body)
}

func randomBlocks(t testing.TB, n int) []blocks.Block {
	t.Helper()
	bs := make([]blocks.Block, n)
	for i := range bs {
		data := make([]byte, 1+i%20*1024)
		rand.Read(data)
		bs[i] = blocks.NewBlock(data)
	}
	return bs
}

// Every destination, this peer's store and two others, ends up with every
// block durable and the roots marked; the receivers mark them under the
// pin lock, and a block whose data is its CID goes nowhere.
func TestStreamReachesEveryPeer(t *testing.T) {
	ctx := context.Background()
	local := newMemStore()
	ps := peers{"a:1": newMemStore(), "b:1": newMemStore()}
	s, err := Open(ctx, Deps{Store: local, Send: ps.send}, []Dest{{ID: "self"}, {ID: "a", Addr: "a:1"}, {ID: "b", Addr: "b:1"}, {ID: "a", Addr: "a:1"}})
	if err != nil {
		t.Fatal(err)
	}
	bs := randomBlocks(t, 3*receiveBatchBlocks+7)
	for chunk := range slices.Chunk(bs, 100) {
		if err := s.Put(ctx, chunk); err != nil {
			t.Fatal(err)
		}
	}
	id, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.IDENTITY, MhLength: -1}.Sum([]byte("inline"))
	if err != nil {
		t.Fatal(err)
	}
	inline, _ := blocks.NewBlockWithCid([]byte("inline"), id)
	if err := s.Put(ctx, []blocks.Block{inline}); err != nil {
		t.Fatal(err)
	}
	root := bs[0].Cid()
	held, err := s.Close(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"self", "a", "b"}; !slices.Equal(held, want) {
		t.Fatalf("Close = %v, want %v", held, want)
	}
	for name, m := range map[string]*memStore{"self": local, "a": ps["a:1"], "b": ps["b:1"]} {
		if err := m.holds(bs); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, ok := m.blocks[id]; ok {
			t.Errorf("%s stored an identity block", name)
		}
		if !slices.Equal(m.marked, []cid.Cid{root}) {
			t.Errorf("%s marked %v, want [%s]", name, m.marked, root)
		}
		if m.locks != 0 {
			t.Errorf("%s still holds %d pin locks", name, m.locks)
		}
	}
	for _, m := range ps {
		if !m.markedLocked {
			t.Errorf("a receiver marked its roots without the pin lock")
		}
	}
}

// A peer whose stream fails is left out of Close's answer while the others
// hold on; when none is left, Close says why each failed.
func TestStreamWithFailedPeers(t *testing.T) {
	ctx := context.Background()
	bs := randomBlocks(t, 10)
	refuse := func(context.Context, string, io.Reader) (Ack, error) { return Ack{}, errors.New("refused by test") }
	miscount := func(ctx context.Context, addr string, body io.Reader) (Ack, error) {
		ack, err := Receive(ctx, newMemStore(), body)
		ack.Blocks--
		return ack, err
	}
	good := peers{"good:1": newMemStore()}
	tests := []struct {
		name    string
		send    map[string]SendFunc // by address
		local   bool
		held    []string
		wantErr string
	}{
		{"one refuses", map[string]SendFunc{"good:1": good.send, "bad:1": refuse}, false, []string{"good"}, ""},
		{"one miscounts", map[string]SendFunc{"good:1": good.send, "bad:1": miscount}, false, []string{"good"}, ""},
		{"only local holds", map[string]SendFunc{"bad:1": refuse}, true, []string{"self"}, ""},
		{"none holds", map[string]SendFunc{"bad:1": refuse}, false, nil, "peer bad: refused by test"},
		{"none counts", map[string]SendFunc{"bad:1": miscount}, false, nil, "acknowledged 9 blocks of 10 sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send := func(ctx context.Context, addr string, body io.Reader) (Ack, error) {
				return tt.send[addr](ctx, addr, body)
			}
			var to []Dest
			if tt.local {
				to = append(to, Dest{ID: "self"})
			}
			for addr := range tt.send {
				to = append(to, Dest{ID: strings.TrimSuffix(addr, ":1"), Addr: addr})
			}
			s, err := Open(ctx, Deps{Store: newMemStore(), Send: send}, to)
			if err != nil {
				t.Fatal(err)
			}
			s.Put(ctx, bs) // may see the failures already, or not
			held, err := s.Close(ctx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Close = %v, %v, want an error with %q", held, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(held, tt.held) {
				t.Fatalf("Close = %v, %v, want %v", held, err, tt.held)
			}
		})
	}
}

// A peer that takes nothing holds Put back once its queue is full: memory
// stays bounded, and Put returns when its context ends.
func TestStreamWaitsForASlowPeer(t *testing.T) {
	stuck := func(ctx context.Context, _ string, _ io.Reader) (Ack, error) {
		<-ctx.Done()
		return Ack{}, ctx.Err()
	}
	s, err := Open(context.Background(), Deps{Send: stuck}, []Dest{{ID: "slow", Addr: "slow:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	bs := make([]blocks.Block, streamQueue+1)
	for i := range bs {
		bs[i] = blocks.NewBlock(fmt.Appendf(nil, "block %d", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Put(ctx, bs); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put of %d blocks to a peer that reads nothing = %v, want the context's deadline", len(bs), err)
	}
}

// Receive refuses a stream that is malformed, cut short or carries a block
// that is not what its CID says: it marks nothing, and lets go of the pin
// lock.
func TestReceiveRefuses(t *testing.T) {
	good := blocks.NewBlock([]byte("good block"))
	forged, _ := blocks.NewBlockWithCid([]byte("not what the CID says"), blocks.NewBlock([]byte("other")).Cid())
	frames := func(bs ...blocks.Block) []byte {
		var out []byte
		for _, b := range bs {
			out = append(appendFrameHeader(out, b), b.RawData()...)
		}
		return out
	}
	trailer := appendTrailer(nil, []cid.Cid{good.Cid()})
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"forged block", append(frames(good, forged), trailer...), block.ErrBad},
		{"no trailer", frames(good), ErrStreamCut},
		{"cut in a frame", frames(good)[:5], ErrStreamCut},
		{"empty", nil, ErrStreamCut},
		{"data after the trailer", append(append(frames(good), trailer...), 1), ErrBadFrame},
		{"block too big", append(appendFrameHeader(nil, blocks.NewBlock(make([]byte, block.MaxSize+1))), 0), block.ErrTooBig},
		{"CID too long", binary.AppendUvarint(nil, maxFrameCid+1), ErrBadFrame},
		{"not a CID", []byte{3, 1, 2, 3}, ErrBadFrame},
		{"too many roots", append(frames(good), 0, 0xff, 0xff, 0xff, 0xff, 0x0f), ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemStore()
			_, err := Receive(context.Background(), m, bytes.NewReader(tt.body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Receive = %v, want %v", err, tt.want)
			}
			if len(m.marked) > 0 || m.locks != 0 {
				t.Fatalf("after a refused stream: marked %v, %d pin locks held", m.marked, m.locks)
			}
			if _, ok := m.blocks[forged.Cid()]; ok {
				t.Fatalf("the forged block was stored")
			}
		})
	}
}
