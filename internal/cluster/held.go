package cluster

import (
	"bytes"
	"fmt"

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
}

func openHeldIndex(dir string) (*heldIndex, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		return nil, fmt.Errorf("open held-pins index: %w", err)
	}
	return &heldIndex{db: db}, nil
}

func (h *heldIndex) Close() error { return h.db.Close() }

func (h *heldIndex) set(c cid.Cid, held bool) error {
	if held {
		return h.db.Set(c.Bytes(), nil, pebble.NoSync)
	}
	return h.db.Delete(c.Bytes(), pebble.NoSync)
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
