package pinsvc

import (
	"context"
	"errors"
	"net/http"
	"strings"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// GET /pins: the caller's requests matching the filters, newest first,
// with count the number of all matches (see parseQuery).
func (s *server) list(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseQuery(r.URL.Query())
	if err != nil {
		return err
	}
	ctx := r.Context()
	prefix := reqPrefix(s.Owner(r))
	// IDs sort by creation time: the scan starts after the after bound
	// ('~' sorts above every digit of an ID) and stops at the before one.
	lower := ""
	if y := lq.after.UTC().Year(); !lq.after.IsZero() && y >= 1970 && y < 2262 { // UnixNano's range, and IDs'
		lower = prefix + digits(uint64(lq.after.UnixNano()), idTimeLen) + "~"
	}

	// First pass: the matches without their status, compactly: an
	// owner may have many requests, and a record may be large.
	type match struct {
		id  string
		cid cid.Cid
	}
	var matches []match
	err = s.Cluster.Records(ctx, prefix, lower, func(key string, v []byte) error {
		req, err := decodeRequest(strings.TrimPrefix(key, prefix), v)
		if err != nil {
			s.Logger.Warn("skipping a malformed pin request record", "key", key, "err", err)
			return nil
		}
		if !lq.before.IsZero() && !req.Created.Before(lq.before) {
			return errStop
		}
		if lq.matches(req) {
			matches = append(matches, match{req.ID, req.Cid})
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	members, err := s.Cluster.Members(ctx)
	if err != nil {
		return err
	}
	cidsOf := func(ms []match) []cid.Cid {
		seen := map[cid.Cid]bool{}
		var out []cid.Cid
		for _, m := range ms {
			if !seen[m.cid] {
				seen[m.cid] = true
				out = append(out, m.cid)
			}
		}
		return out
	}
	var infos map[cid.Cid]*pin.Info
	if !lq.anyStatus() {
		if infos, err = s.statuses(ctx, cidsOf(matches)); err != nil {
			return err
		}
		kept := matches[:0]
		for _, m := range matches {
			if st, _ := deriveStatus(infos[m.cid]); lq.statuses[st] {
				kept = append(kept, m)
			}
		}
		matches = kept
	}
	count := len(matches)
	first := max(0, count-lq.limit) // the page is matches[first:], newest last
	page := matches[first:]
	if lq.anyStatus() {
		if infos, err = s.statuses(ctx, cidsOf(page)); err != nil {
			return err
		}
	}

	// Second pass: the page's records, from its oldest.
	reqs := map[string]request{}
	if len(page) > 0 {
		from := lower
		if first > 0 {
			from = prefix + matches[first-1].id
		}
		want := map[string]bool{}
		for _, m := range page {
			want[m.id] = true
		}
		newest := page[len(page)-1].id
		err = s.Cluster.Records(ctx, prefix, from, func(key string, v []byte) error {
			id := strings.TrimPrefix(key, prefix)
			if id > newest {
				return errStop
			}
			if want[id] {
				req, err := decodeRequest(id, v)
				if err == nil {
					reqs[id] = req
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return err
		}
	}
	out := wirePinResults{Count: count, Results: []wirePinStatus{}}
	for i := len(page) - 1; i >= 0; i-- {
		if req, ok := reqs[page[i].id]; ok { // else removed meanwhile
			out.Results = append(out.Results, toWire(req, infos[req.Cid], members))
		}
	}
	return reply(w, http.StatusOK, out)
}

// POST /pins: a new request; answers 202 once its CID is in the pinset
// (committed and allocated, not yet fetched).
func (s *server) add(w http.ResponseWriter, r *http.Request) error {
	req, err := parsePin(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return err
	}
	req.Owner = s.Owner(r)
	if req, err = s.create(r.Context(), req, cid.Undef); err != nil {
		return err
	}
	return reply(w, http.StatusAccepted, s.describeNew(r.Context(), req))
}

// GET /pins/{requestid}.
func (s *server) get(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	req, err := s.load(ctx, s.Owner(r), r.PathValue("requestid"))
	if err != nil {
		return err
	}
	infos, err := s.statuses(ctx, []cid.Cid{req.Cid})
	if err != nil {
		return err
	}
	members, err := s.Cluster.Members(ctx)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, toWire(req, infos[req.Cid], members))
}

// POST /pins/{requestid}: replaces a request by a new one (new ID, new
// creation time). The new CID is pinned before the old one is released,
// with the old one as a pin update, so blocks they share are never
// dropped.
func (s *server) replace(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	owner := s.Owner(r)
	old, err := s.load(ctx, owner, r.PathValue("requestid"))
	if err != nil {
		return err
	}
	req, err := parsePin(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return err
	}
	req.Owner = owner
	if req, err = s.create(ctx, req, old.Cid); err != nil {
		return err
	}
	if err := s.delete(ctx, old); err != nil {
		s.undo(ctx, req)
		return err
	}
	return reply(w, http.StatusAccepted, s.describeNew(ctx, req))
}

// DELETE /pins/{requestid}: answers 202 with no body.
func (s *server) remove(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	req, err := s.load(ctx, s.Owner(r), r.PathValue("requestid"))
	if err != nil {
		return err
	}
	if err := s.delete(ctx, req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// describeNew describes a request just created. It exists whatever
// happens now, so a status that cannot be read is reported as queued.
func (s *server) describeNew(ctx context.Context, req request) wirePinStatus {
	info := &pin.Info{}
	infos, err := s.statuses(ctx, []cid.Cid{req.Cid})
	if err == nil {
		info = infos[req.Cid]
	}
	members, merr := s.Cluster.Members(ctx)
	if err = errors.Join(err, merr); err != nil {
		s.Logger.Warn("status of a new pin request", "requestid", req.ID, "err", err)
	}
	return toWire(req, info, members)
}
