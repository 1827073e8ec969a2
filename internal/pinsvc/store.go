package pinsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// The life of a request in the replicated state. Records have no
// transactions and any peer may serve requests naming the same CID at the
// same time, so the steps are ordered such that every interleaving keeps a
// CID pinned while a request refers to it; when in doubt, a pin stays.
//
// create: (1) write the reference psa/cid/<cid>/…; (2) if the CID is not in
// the pinset, mark it as the service's own (psa/own/<cid>) and pin it;
// (3) write the request record. The record comes last, so a request that
// can be listed has its pin.
//
// remove: (1) delete the record; (2) delete the reference; (3) release
// the CID: when no reference remains and the pin is the service's own,
// delete the mark, unpin, then read the references again. A request
// created meanwhile may have found the pin still there in its step 2 and
// left it alone; its reference, written before that, is seen now, and the
// CID is pinned again for it.
//
// A CID that was in the pinset before any request referred to it (pinned
// through the REST or the Kubo RPC API) is never marked: the service never
// unpins what it did not pin.

// maxTieRetries bounds the attempts at a creation time no other request of
// the owner has.
const maxTieRetries = 8

// undoTimeout bounds the clean-up after a failed creation, which runs even
// if the client has gone.
const undoTimeout = 30 * time.Second

// errStop ends a Records scan early.
var errStop = errors.New("stop")

// create records r (CID, name, origins, meta and owner set) as a new
// request with a fresh ID, and makes sure its CID is in the pinset. update,
// when defined, is a pinned CID whose blocks speed up fetching r's (a
// replaced request's). On error nothing is left behind.
func (s *server) create(ctx context.Context, r request, update cid.Cid) (request, error) {
	r = s.stamp(r)
	if n := len(reqKey(r.Owner, r.ID)) + len(encodeRequest(r)); n > maxRecord {
		return request{}, badRequest("the pin object takes %d bytes, at most %d", n, maxRecord)
	}
	if err := s.Cluster.PutRecord(ctx, refKey(r), encodeRef(r)); err != nil {
		return request{}, err
	}
	if err := s.ensurePinned(ctx, r, update); err != nil {
		s.undo(ctx, r)
		return request{}, err
	}
	// Created times must differ between the requests of an owner: clients
	// page with before=<created of the last one seen>. This process never
	// repeats one; another peer might, at the same nanosecond. Of two
	// records with the same time, the one written last sees the other here
	// (reads see every acknowledged write) and moves to a new time.
	for attempt := 1; ; attempt++ {
		if err := s.Cluster.PutRecord(ctx, reqKey(r.Owner, r.ID), encodeRequest(r)); err != nil {
			s.undo(ctx, r)
			return request{}, err
		}
		tied, err := s.tied(ctx, r)
		if err == nil && !tied {
			return r, nil
		}
		if err == nil && attempt == maxTieRetries {
			err = errorf(http.StatusServiceUnavailable, "no unique creation time after %d attempts", attempt)
		}
		if err != nil {
			s.undo(ctx, r)
			return request{}, err
		}
		next := s.stamp(r)
		if err := s.Cluster.PutRecord(ctx, refKey(next), encodeRef(next)); err != nil {
			s.undo(ctx, r)
			return request{}, err
		}
		s.undo(ctx, r) // the CID stays: next refers to it
		r = next
	}
}

// stamp gives r a new ID, and so a new creation time.
func (s *server) stamp(r request) request {
	r.ID = newID(s.clock.next())
	r.Created, _ = idTime(r.ID)
	return r
}

// tied reports whether another request of r's owner has r's creation time.
func (s *server) tied(ctx context.Context, r request) (bool, error) {
	tied := false
	err := s.Cluster.Records(ctx, reqPrefix(r.Owner)+r.ID[:idTimeLen], "", func(key string, _ []byte) error {
		if key != reqKey(r.Owner, r.ID) {
			tied = true
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return tied, err
}

// ensurePinned pins r's CID unless it is in the pinset already, where it
// keeps its options (name, replication, allocations).
func (s *server) ensurePinned(ctx context.Context, r request, update cid.Cid) error {
	_, err := s.Cluster.Get(ctx, r.Cid)
	if !errors.Is(err, pin.ErrNotFound) {
		return err
	}
	return s.pinOwn(ctx, r.Cid, storedRef{Name: r.Name, Origins: r.Origins}, update)
}

// pinOwn marks c as the service's own and pins it with the cluster's
// default replication, or, as an update of the pin of update (a replaced
// request's CID), with that pin's replication and peers: its peers fetch
// only the difference (see pin.Update).
func (s *server) pinOwn(ctx context.Context, c cid.Cid, ref storedRef, update cid.Cid) error {
	if err := s.Cluster.PutRecord(ctx, ownKey(c), nil); err != nil {
		return err
	}
	p := pin.Pin{Cid: c, Name: ref.Name, Mode: pin.Recursive, Origins: ref.Origins}
	if update.Defined() && !update.Equals(c) {
		p.PinUpdate = update
	}
	_, err := s.Cluster.Pin(ctx, p)
	if p.IsUpdate() && errors.Is(err, pin.ErrNotFound) {
		// The replaced CID left the pinset meanwhile (unpinned through
		// another API): there is nothing to update, c is pinned afresh.
		p.PinUpdate = cid.Undef
		_, err = s.Cluster.Pin(ctx, p)
	}
	return err
}

// undo removes what create wrote for r, even if ctx is cancelled.
func (s *server) undo(ctx context.Context, r request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	if err := s.delete(ctx, r); err != nil {
		s.Logger.Error("cleaning up after a failed pin request", "requestid", r.ID, "cid", r.Cid, "err", err)
	}
}

// load returns the request id of owner; another owner's request is not
// found, as one that does not exist.
func (s *server) load(ctx context.Context, owner, id string) (request, error) {
	notFound := errorf(http.StatusNotFound, "no pin request %q", id)
	if _, ok := idTime(id); !ok {
		return request{}, notFound
	}
	v, ok, err := s.Cluster.Record(ctx, reqKey(owner, id))
	if err != nil {
		return request{}, err
	}
	if !ok {
		return request{}, notFound
	}
	return decodeRequest(id, v)
}

// delete removes request r and releases its CID. It fails only while r
// still exists; a CID that could not be released stays pinned, and is
// logged.
func (s *server) delete(ctx context.Context, r request) error {
	if err := s.Cluster.DeleteRecord(ctx, reqKey(r.Owner, r.ID)); err != nil {
		return err
	}
	err := s.Cluster.DeleteRecord(ctx, refKey(r))
	if err == nil {
		err = s.release(ctx, r.Cid)
	}
	if err != nil {
		s.Logger.Error("pin request removed, but its CID was not released: it stays pinned", "requestid", r.ID, "cid", r.Cid, "err", err)
	}
	return nil
}

// release unpins c if no request refers to it and the service pinned it.
func (s *server) release(ctx context.Context, c cid.Cid) error {
	if _, ok, err := s.firstRef(ctx, c); err != nil || ok {
		return err
	}
	if _, own, err := s.Cluster.Record(ctx, ownKey(c)); err != nil || !own {
		return err
	}
	if err := s.Cluster.DeleteRecord(ctx, ownKey(c)); err != nil {
		return err
	}
	if err := s.Cluster.Unpin(ctx, c); err != nil && !errors.Is(err, pin.ErrNotFound) {
		// Still pinned: it stays the service's own.
		return errors.Join(err, s.Cluster.PutRecord(ctx, ownKey(c), nil))
	}
	ref, ok, err := s.firstRef(ctx, c)
	if err != nil || !ok {
		return err
	}
	return s.pinOwn(ctx, c, ref, cid.Undef)
}

// firstRef returns a reference of a request to c, if there is one.
func (s *server) firstRef(ctx context.Context, c cid.Cid) (storedRef, bool, error) {
	var ref storedRef
	found := false
	err := s.Cluster.Records(ctx, refPrefix(c), "", func(_ string, v []byte) error {
		found = true
		if err := json.Unmarshal(v, &ref); err != nil {
			ref = storedRef{} // the CID alone will do
		}
		return errStop
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	if err != nil {
		return storedRef{}, false, fmt.Errorf("references to %s: %w", c, err)
	}
	return ref, found, nil
}
