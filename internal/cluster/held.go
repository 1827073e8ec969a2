package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	cid "github.com/ipfs/go-cid"
)

// heldIndex records which pins this peer's node holds, keyed by CID bytes:
// the order of the state's pin list, so that a status listing walks both
// side by side instead of asking the node's pinner about every pin (a
// lookup under the pinner's lock, and a stat of the root block, per pin).
//
// It is a cache of the node's pins, kept by the tracker as it pins and
// unpins, unsynced: the tracker's full pass at start checks every
// allocated pin against the node itself and corrects it, so neither a
// crash nor a lost disk leaves it wrong for longer than that pass.
type heldIndex struct {
	db *pebble.DB

	mu    sync.Mutex // serialises set, so that count follows the keys
	count int        // guarded by mu: how many pins the index holds
}

func openHeldIndex(dir string) (*heldIndex, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		return nil, fmt.Errorf("open held-pins index: %w", err)
	}
	// Counted once here (a million pins: a fraction of a second), then
	// kept by set: heartbeats report it, without a scan.
	h := &heldIndex{db: db}
	it, err := db.NewIter(nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		h.count++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		db.Close()
		return nil, fmt.Errorf("count held pins: %w", err)
	}
	return h, nil
}

func (h *heldIndex) Close() error { return h.db.Close() }

func (h *heldIndex) set(c cid.Cid, held bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.has(c) == held {
		return nil
	}
	var err error
	if held {
		err = h.db.Set(c.Bytes(), nil, pebble.NoSync)
	} else {
		err = h.db.Delete(c.Bytes(), pebble.NoSync)
	}
	if err == nil {
		if held {
			h.count++
		} else {
			h.count--
		}
	}
	return err
}

// held is how many pins the node holds, as far as the index knows.
func (h *heldIndex) held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

func (h *heldIndex) has(c cid.Cid) bool {
	_, closer, err := h.db.Get(c.Bytes())
	if err != nil {
		return false
	}
	closer.Close()
	return true
}

// cursor walks the index in CID-byte order, for a listing that visits
// pins in the same order.
type heldCursor struct {
	it    *pebble.Iterator
	valid bool
}

func (h *heldIndex) cursor() (*heldCursor, error) {
	it, err := h.db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	return &heldCursor{it: it, valid: it.First()}, nil
}

// has reports whether c is held; successive calls must ask for increasing
// CIDs.
func (hc *heldCursor) has(c cid.Cid) bool {
	key := c.Bytes()
	for hc.valid {
		switch cmp := bytes.Compare(hc.it.Key(), key); {
		case cmp == 0:
			return true
		case cmp > 0:
			return false
		}
		hc.valid = hc.it.SeekGE(key)
	}
	return false
}

func (hc *heldCursor) Close() error { return hc.it.Close() }

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
