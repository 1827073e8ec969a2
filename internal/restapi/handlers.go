package restapi

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// GET /id: this peer.
func (s *server) id(w http.ResponseWriter, r *http.Request) error {
	ms, by, err := s.membersByID(r.Context())
	if err != nil {
		return err
	}
	self, ok := by[s.Cluster.ID()]
	if !ok { // not admitted yet
		self = member.Member{ID: s.Cluster.ID()}
	}
	return reply(w, memberToWire(self, ms, s.Version, s.Commit))
}

// GET /version.
func (s *server) version(w http.ResponseWriter, r *http.Request) error {
	return reply(w, wireVersion{Version: s.Version})
}

// GET /peers: a stream of every member, from its record in the pinset
// (with this peer's version: a cluster runs one release).
func (s *server) peers(w http.ResponseWriter, r *http.Request) error {
	ms, _, err := s.membersByID(r.Context())
	if err != nil {
		return err
	}
	st := newStreamer(w)
	for _, m := range ms {
		if err := st.send(memberToWire(m, ms, s.Version, s.Commit)); err != nil {
			return nil // the client went away
		}
	}
	st.end(s, nil)
	return nil
}

// GET /allocations?filter=: a stream of the pinset. Every flotilla pin is
// of type "pin" (no sharding), so a filter either keeps all or none.
func (s *server) allocations(w http.ResponseWriter, r *http.Request) error {
	all := false
	for _, f := range strings.Split(r.URL.Query().Get("filter"), ",") {
		switch f {
		case "", "all", "pin":
			all = true
		case "meta-pin", "clusterdag-pin", "shard-pin":
		default:
			return errorf(http.StatusBadRequest, "invalid filter value %q", f)
		}
	}
	st := newStreamer(w)
	var err error
	if all {
		err = s.Cluster.List(r.Context(), func(p pin.Pin) error { return st.send(pinToWire(p)) })
	}
	st.end(s, err)
	return nil
}

// GET /allocations/{cid}.
func (s *server) allocation(w http.ResponseWriter, r *http.Request) error {
	c, err := pathCid(r)
	if err != nil {
		return err
	}
	p, err := s.Cluster.Get(r.Context(), c)
	if err != nil {
		return err
	}
	return reply(w, pinToWire(p))
}

// GET /pins?filter=&local=&cids=: a stream of statuses, of the given CIDs
// or of the whole pinset.
func (s *server) statusAll(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	filter, err := statusFilter(q.Get("filter"))
	if err != nil {
		return err
	}
	local := q.Get("local") == "true"
	var cids []cid.Cid
	if v := q.Get("cids"); v != "" {
		for _, cs := range strings.Split(v, ",") {
			c, err := cid.Decode(cs)
			if err != nil {
				return errorf(http.StatusBadRequest, "error decoding Cid %q: %v", cs, err)
			}
			cids = append(cids, c)
		}
	}
	ms, by, err := s.membersByID(r.Context())
	if err != nil {
		return err
	}
	st := newStreamer(w)
	emit := func(info pin.Info) error {
		if local {
			info = s.onlyLocal(info)
		}
		if !matches(info, filter) {
			return nil
		}
		return st.send(infoToWire(info, by))
	}
	if cids == nil {
		err = s.Cluster.StatusAll(r.Context(), emit)
	} else {
		for _, c := range cids {
			var info pin.Info
			if info, err = s.pinStatus(r, c, ms); err != nil {
				break
			}
			if err = emit(info); err != nil {
				break
			}
		}
	}
	st.end(s, err)
	return nil
}

// GET /pins/{cid}?local=.
func (s *server) status(w http.ResponseWriter, r *http.Request) error {
	c, err := pathCid(r)
	if err != nil {
		return err
	}
	ms, by, err := s.membersByID(r.Context())
	if err != nil {
		return err
	}
	info, err := s.pinStatus(r, c, ms)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("local") == "true" {
		info = s.onlyLocal(info)
	}
	return reply(w, infoToWire(info, by))
}

// pinStatus is the cluster's status of c; a CID outside the pinset is
// "unpinned" on every peer, as in IPFS Cluster (pin rm --wait waits for
// that).
func (s *server) pinStatus(r *http.Request, c cid.Cid, ms []member.Member) (pin.Info, error) {
	info, err := s.Cluster.Status(r.Context(), c)
	if errors.Is(err, pin.ErrNotFound) {
		info = pin.Info{Pin: pin.Pin{Cid: c}}
		for _, m := range ms {
			info.Peers = append(info.Peers, pin.PeerStatus{Peer: m.ID, Status: pin.StatusUnpinned, Since: s.now()})
		}
		return info, nil
	}
	return info, err
}

// onlyLocal keeps this peer's view.
func (s *server) onlyLocal(info pin.Info) pin.Info {
	var own []pin.PeerStatus
	for _, p := range info.Peers {
		if p.Peer == s.Cluster.ID() {
			own = append(own, p)
		}
	}
	info.Peers = own
	return info
}

// POST /pins/{cid}?options: pins, or updates the pin's options, and
// answers once the pin is committed (not yet fetched: clients poll
// GET /pins/{cid}, as pin add --wait does).
func (s *server) pin(w http.ResponseWriter, r *http.Request) error {
	c, err := pathCid(r)
	if err != nil {
		return err
	}
	return s.pinCid(w, r, c)
}

// POST /pins/{ipfs|ipns|ipld}/{path...}?options: pins what the path
// resolves to now (an IPNS name is not followed afterwards).
func (s *server) pinPath(w http.ResponseWriter, r *http.Request) error {
	c, err := s.resolvePath(r)
	if err != nil {
		return err
	}
	return s.pinCid(w, r, c)
}

// DELETE /pins/{ipfs|ipns|ipld}/{path...}.
func (s *server) unpinPath(w http.ResponseWriter, r *http.Request) error {
	c, err := s.resolvePath(r)
	if err != nil {
		return err
	}
	return s.unpinCid(w, r, c)
}

func (s *server) resolvePath(r *http.Request) (cid.Cid, error) {
	kind, rest := r.PathValue("kind"), r.PathValue("path")
	if kind != "ipfs" && kind != "ipns" && kind != "ipld" {
		return cid.Undef, errorf(http.StatusNotFound, "not found")
	}
	if kind != "ipns" && !strings.Contains(rest, "/") {
		c, err := cid.Decode(rest)
		if err != nil {
			return cid.Undef, errorf(http.StatusBadRequest, "error decoding Cid: %v", err)
		}
		return c, nil
	}
	if s.Resolve == nil {
		return cid.Undef, errorf(http.StatusNotImplemented, "path resolution is not available")
	}
	c, err := s.Resolve(r.Context(), "/"+kind+"/"+rest)
	if err != nil {
		return cid.Undef, errorf(http.StatusBadRequest, "error resolving /%s/%s: %v", kind, rest, err)
	}
	return c, nil
}

func (s *server) pinCid(w http.ResponseWriter, r *http.Request, c cid.Cid) error {
	p, err := parsePinOptions(r.URL.Query(), s.now())
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	p.Cid = c
	if p.IsUpdate() {
		// As IPFS Cluster's PinUpdate: the new pin takes the options and
		// the peers of the existing one (which stays pinned), which the
		// leader reads as it commits the new one (pin.Update); only the
		// name and the expiry may be given.
		p = pin.Pin{Cid: c, PinUpdate: p.PinUpdate, Name: p.Name, ExpireAt: p.ExpireAt}
	}
	// Checked at the edge, so a bad request never travels to the leader.
	if err := p.Validate(s.now()); err != nil {
		return err
	}
	p, err = s.Cluster.Pin(r.Context(), p)
	if err != nil {
		return err
	}
	return reply(w, pinToWire(p))
}

// DELETE /pins/{cid}: answers with the pin removed.
func (s *server) unpin(w http.ResponseWriter, r *http.Request) error {
	c, err := pathCid(r)
	if err != nil {
		return err
	}
	return s.unpinCid(w, r, c)
}

func (s *server) unpinCid(w http.ResponseWriter, r *http.Request, c cid.Cid) error {
	p, err := s.Cluster.Get(r.Context(), c)
	if err != nil {
		return err
	}
	if err := s.Cluster.Unpin(r.Context(), c); err != nil {
		return err
	}
	return reply(w, pinToWire(p))
}

// POST /pins/{cid}/recover?local=.
func (s *server) recover(w http.ResponseWriter, r *http.Request) error {
	c, err := pathCid(r)
	if err != nil {
		return err
	}
	_, by, err := s.membersByID(r.Context())
	if err != nil {
		return err
	}
	info, err := s.Cluster.Recover(r.Context(), c)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("local") == "true" {
		info = s.onlyLocal(info)
	}
	return reply(w, infoToWire(info, by))
}

// POST /pins/recover?local=: recovers every pin with a failed operation
// and streams their statuses. The failed pins are collected first, so
// the status streams are not held open during the recoveries.
func (s *server) recoverAll(w http.ResponseWriter, r *http.Request) error {
	local := r.URL.Query().Get("local") == "true"
	_, by, err := s.membersByID(r.Context())
	if err != nil {
		return err
	}
	failed := map[pin.Status]bool{pin.StatusPinError: true, pin.StatusUnpinError: true}
	var todo []cid.Cid
	err = s.Cluster.StatusAll(r.Context(), func(info pin.Info) error {
		if local {
			info = s.onlyLocal(info)
		}
		if matches(info, failed) {
			todo = append(todo, info.Pin.Cid)
		}
		return nil
	})
	if err != nil {
		return err
	}
	st := newStreamer(w)
	for _, c := range todo {
		var info pin.Info
		if info, err = s.Cluster.Recover(r.Context(), c); errors.Is(err, pin.ErrNotFound) {
			err = nil
			continue // unpinned meanwhile
		} else if err != nil {
			break
		}
		if local {
			info = s.onlyLocal(info)
		}
		if err = st.send(infoToWire(info, by)); err != nil {
			break
		}
	}
	st.end(s, err)
	return nil
}

// liveness returns the members as the leader sees them, or a 501 when the
// cluster cannot tell.
func (s *server) liveness(r *http.Request) ([]member.Member, error) {
	l, ok := s.Cluster.(Liveness)
	if !ok {
		return nil, errorf(http.StatusNotImplemented, "%s %s is not implemented: this cluster does not report liveness yet", r.Method, r.URL.Path)
	}
	return l.Liveness(r.Context())
}

func (s *server) downAfter() time.Duration {
	if s.DownAfter > 0 {
		return s.DownAfter
	}
	return DefaultDownAfter
}

// GET /monitor/metrics: the metric names.
func (s *server) metricNames(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.liveness(r); err != nil {
		return err
	}
	return reply(w, metricNames)
}

// GET /monitor/metrics/{name}: every member's latest value.
func (s *server) metrics(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !slices.Contains(metricNames, name) {
		return errorf(http.StatusNotFound, "unknown metric %q (known: %s)", name, strings.Join(metricNames, ", "))
	}
	ms, err := s.liveness(r)
	if err != nil {
		return err
	}
	now := s.now()
	out := []wireMetric{}
	for _, m := range ms {
		out = append(out, memberMetric(name, m, now, s.downAfter()))
	}
	return reply(w, out)
}

// GET /health/alerts: a "ping" alert for each member that is down.
func (s *server) alerts(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.liveness(r)
	if err != nil {
		return err
	}
	now := s.now()
	out := []wireAlert{}
	for _, m := range ms {
		if m.Alive(now, s.downAfter()) {
			continue
		}
		a := wireAlert{wireMetric: memberMetric("ping", m, now, s.downAfter())}
		if !m.LastSeen.IsZero() {
			a.TriggeredAt = m.LastSeen.Add(s.downAfter())
		}
		out = append(out, a)
	}
	return reply(w, out)
}

// notYet answers the routes of IPFS Cluster's API that flotilla does not
// serve yet, so a client sees why instead of a bare 404.
func (s *server) notYet(w http.ResponseWriter, r *http.Request) error {
	return errorf(http.StatusNotImplemented, "%s %s is not implemented by flotilla yet", r.Method, r.URL.Path)
}
