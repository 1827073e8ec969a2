package console

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"
)

type peerView struct {
	ID, Name, Zone string
	Up             bool
	Leader, Voter  bool
	Self           bool
	LastSeen       time.Time
	FreeSpace      uint64
	Queue          int
	Held           int
	Errors         int    // its pin operations in error
	Version        string // as it last reported; this peer's own always
	Known          bool   // the leader's view was available
}

// alert is a line of the alerts, with a link to what it is about.
type alert struct {
	Text     string
	Link     string // empty: none
	LinkText string
}

type zoneView struct {
	Zone      string
	Peers     []peerView
	Up, Total int
}

type overviewData struct {
	Zones        []zoneView
	Up, Total    int
	Leader       string
	Healthy      bool
	Health       string
	Alerts       []alert
	Charts       bool
	LivenessNote string
}

// overview is the cluster at a glance: peers by zone, health, alerts,
// rates. ?part=live renders the part the page refreshes.
func (s *server) overview(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.overviewData(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("part") == "live" {
		s.renderPart(w, "overview", "live", v, d)
		return nil
	}
	s.render(w, http.StatusOK, "overview", v, d)
	return nil
}

func (s *server) overviewData(r *http.Request) (overviewData, error) {
	ctx := r.Context()
	d := overviewData{Charts: s.Metrics != nil}
	members, err := s.Cluster.Liveness(ctx)
	known := err == nil
	if err != nil {
		// No leader to ask: the members as this peer knows them, with
		// nothing known of their liveness.
		d.LivenessNote = "The leader could not be asked how the peers are: " + err.Error()
		if members, err = s.Cluster.Members(ctx); err != nil {
			return d, err
		}
	}
	voters, _ := s.Cluster.Voters()
	leader := s.Cluster.Leader()
	now := s.now()
	zones := map[string]*zoneView{}
	for _, m := range members {
		pv := peerView{
			ID: m.ID, Name: cmp.Or(m.Name, shortID(m.ID)), Zone: cmp.Or(m.Zone, "(no zone)"),
			Up: known && m.Alive(now, s.cfg.DownAfter), Leader: m.ID == leader, Voter: slices.Contains(voters, m.ID),
			Self: m.ID == s.Cluster.ID(), LastSeen: m.LastSeen, FreeSpace: m.FreeSpace, Queue: m.QueueLen, Held: m.Held,
			Errors: m.Errors, Version: m.Version, Known: known,
		}
		if pv.Self {
			pv.Version = s.Version
		}
		z := zones[pv.Zone]
		if z == nil {
			z = &zoneView{Zone: pv.Zone}
			zones[pv.Zone] = z
		}
		z.Peers = append(z.Peers, pv)
		z.Total++
		d.Total++
		if pv.Up {
			z.Up++
			d.Up++
		}
		if pv.Leader {
			d.Leader = pv.Name
		}
		if known && !pv.Up {
			// The pins it held, by its last report, are each a replica
			// short until it returns or the repair moves them: the
			// under-replicated pins, counted without a scan.
			a := alert{Text: fmt.Sprintf("Peer %s (zone %s) is down: last seen %s.", pv.Name, pv.Zone, ago(now, m.LastSeen))}
			if m.Held > 0 {
				a.Text += fmt.Sprintf(" %d %s held there %s a replica short until it returns or is repaired.", m.Held, plural(m.Held, "pin", "pins"), plural(m.Held, "is", "are"))
				a.Link, a.LinkText = "/ui/pins?status=under", "Under-replicated pins"
			}
			d.Alerts = append(d.Alerts, a)
		}
		if pv.Up && m.QueueLen > 100 {
			d.Alerts = append(d.Alerts, alert{Text: fmt.Sprintf("Peer %s has %d pin operations queued.", pv.Name, m.QueueLen)})
		}
		if known && m.Errors > 0 {
			d.Alerts = append(d.Alerts, alert{Text: fmt.Sprintf("%d %s in error on %s.", m.Errors, plural(m.Errors, "pin", "pins"), pv.Name),
				Link: "/ui/pins?status=error", LinkText: "Pins in error"})
		}
	}
	for _, z := range zones {
		slices.SortFunc(z.Peers, func(a, b peerView) int { return cmp.Compare(a.Name, b.Name) })
		d.Zones = append(d.Zones, *z)
	}
	slices.SortFunc(d.Zones, func(a, b zoneView) int { return cmp.Compare(a.Zone, b.Zone) })
	// Moves are read from this peer's state machine (every peer applies
	// every move), not by scanning the pinset.
	if n, last := s.Cluster.RecentMoves(); n > 0 {
		d.Alerts = append(d.Alerts, alert{Text: fmt.Sprintf("Repair in progress: %d %s moved in the last minute (last %s).",
			n, plural(n, "pin", "pins"), ago(now, last)), Link: "/ui/pins?status=under", LinkText: "Under-replicated pins"})
	}
	switch {
	case leader == "":
		d.Health = "No leader: the pinset cannot change until a majority of voters is back."
		d.Alerts = append([]alert{{Text: "The cluster has no leader."}}, d.Alerts...)
	case !known:
		d.Health = "Leader known, peers' liveness unknown."
	case d.Up == d.Total:
		d.Healthy = true
		d.Health = fmt.Sprintf("Healthy: %d of %d peers up in %d zones, leader %s.", d.Up, d.Total, len(d.Zones), d.Leader)
	default:
		d.Health = fmt.Sprintf("Degraded: %d of %d peers up, leader %s; pins of a down peer are re-placed after the repair delay.", d.Up, d.Total, d.Leader)
	}
	return d, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
