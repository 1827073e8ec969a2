package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	cid "github.com/ipfs/go-cid"
	"golang.org/x/sync/errgroup"

	"github.com/flotilla-ipfs/flotilla/internal/member"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// errPageFull stops a listing once a page is complete.
var errPageFull = errors.New("page full")

// statusFilters are the filter choices of the pins page: a pin matches
// when one of its peers reports a status of the group.
var statusFilters = []struct {
	Value, Label string
	statuses     []pin.Status
}{
	{"pinned", "pinned", []pin.Status{pin.StatusPinned}},
	{"pinning", "pinning or queued", []pin.Status{pin.StatusPinning, pin.StatusPinQueued}},
	{"error", "in error", []pin.Status{pin.StatusPinError, pin.StatusUnpinError, pin.StatusClusterErr}},
	{"under", "under-replicated", nil}, // fewer peers hold it than its minimum
}

type pinRow struct {
	Cid, Name string
	Meta      string
	Rep       string
	Summary   string
	Level     string // ok, warn, err: the summary's colour
}

type pinsData struct {
	Q, Status string
	Filters   []filterOption
	First     bool   // this is the first page
	Live      string // the URL the page refreshes its rows from
	load      func() *pinsPage
	page      *pinsPage
}

// pinsPage is what the listing found; it is read while the page is
// written (Load), after the page's head went out.
type pinsPage struct {
	Rows    []pinRow
	Next    string // the next page's URL; empty on the last
	Scanned int
	Budget  bool   // the scan stopped at its budget, not at a full page
	Err     string // the listing failed after the page's head was sent
}

// Load lists the page, once.
func (d *pinsData) Load() *pinsPage {
	if d.page == nil {
		d.page = d.load()
	}
	return d.page
}

type filterOption struct {
	Value, Label string
	Selected     bool
}

// pins lists the pinset a page at a time, in CID order, from the cursor
// ?after=. A search (?q=: a CID, or words found in the name or metadata)
// or a filter (?status=) reads at most ScanBudget pins before it answers:
// a page costs the same whether the pinset holds a thousand pins or a
// million, and nothing ever counts them all. The page's head is sent
// before the rows are listed, so that the browser paints it at once.
func (s *server) pins(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q := r.URL.Query()
	d := &pinsData{Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), First: q.Get("after") == ""}
	d.Filters = []filterOption{{"", "any status", d.Status == ""}}
	var want []pin.Status
	under := false
	known := d.Status == ""
	for _, f := range statusFilters {
		d.Filters = append(d.Filters, filterOption{f.Value, f.Label, f.Value == d.Status})
		if f.Value == d.Status {
			want, under, known = f.statuses, f.Value == "under", true
		}
	}
	if !known {
		return errorf(http.StatusBadRequest, "unknown status filter %q", d.Status)
	}
	after := cid.Undef
	if a := q.Get("after"); a != "" {
		c, err := cid.Decode(a)
		if err != nil {
			return errorf(http.StatusBadRequest, "after: %v", err)
		}
		after = c
	}
	lq := r.URL.Query()
	lq.Set("part", "rows")
	d.Live = "/ui/pins?" + lq.Encode()
	ctx := r.Context()
	words := strings.Fields(strings.ToLower(d.Q))
	d.load = func() *pinsPage {
		pg := &pinsPage{}
		var err error
		switch c, cerr := cid.Decode(d.Q); {
		case cerr == nil && !after.Defined():
			// A whole CID is looked up, not searched for.
			var info pin.Info
			if info, err = s.Cluster.Status(ctx, c); err == nil {
				pg.Rows = append(pg.Rows, rowOf(info))
			} else if errors.Is(err, pin.ErrNotFound) {
				err = nil
			}
		case len(words) > 0 && d.Status == "":
			err = s.search(ctx, pg, after, words, d)
		default:
			err = s.list(ctx, pg, after, words, want, under, d)
		}
		if err != nil {
			s.Logger.Warn("pins page", "err", err)
			pg.Err = err.Error()
		}
		return pg
	}
	if q.Get("part") == "rows" {
		s.renderPart(w, "pins", "rows", v, d)
		return nil
	}
	s.renderStream(w, "pins", v, d)
	return nil
}

// list reads a page of pins with their statuses from the cursor, keeping
// those that match.
func (s *server) list(ctx context.Context, pg *pinsPage, after cid.Cid, words []string, want []pin.Status, under bool, d *pinsData) error {
	filtered := len(words) > 0 || d.Status != ""
	var last cid.Cid
	err := s.Cluster.StatusFrom(ctx, after, func(info pin.Info) error {
		if len(pg.Rows) == s.cfg.PageSize || (filtered && pg.Scanned == s.cfg.ScanBudget) {
			pg.Budget = len(pg.Rows) < s.cfg.PageSize
			pg.Next = pinsURL(d.Q, d.Status, last)
			return errPageFull
		}
		pg.Scanned++
		last = info.Pin.Cid
		if !matches(info.Pin, words) || (want != nil && !hasStatus(info, want)) || (under && !underReplicated(info)) {
			return nil
		}
		pg.Rows = append(pg.Rows, rowOf(info))
		return nil
	})
	if errors.Is(err, errPageFull) {
		err = nil
	}
	return err
}

// search finds pins by words in this peer's copy of the pinset (no peer
// is asked about the pins that do not match), then asks for the statuses
// of those that do.
func (s *server) search(ctx context.Context, pg *pinsPage, after cid.Cid, words []string, d *pinsData) error {
	var found []cid.Cid
	var last cid.Cid
	err := s.Cluster.ListFrom(ctx, after, func(p pin.Pin) error {
		if len(found) == s.cfg.PageSize || pg.Scanned == s.cfg.ScanBudget {
			pg.Budget = len(found) < s.cfg.PageSize
			pg.Next = pinsURL(d.Q, d.Status, last)
			return errPageFull
		}
		pg.Scanned++
		last = p.Cid
		if matches(p, words) {
			found = append(found, p.Cid)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return err
	}
	rows := make([]pinRow, len(found))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, c := range found {
		g.Go(func() error {
			info, err := s.Cluster.Status(gctx, c)
			if errors.Is(err, pin.ErrNotFound) {
				return nil // unpinned meanwhile
			}
			if err != nil {
				return err
			}
			rows[i] = rowOf(info)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Cid != "" {
			pg.Rows = append(pg.Rows, r)
		}
	}
	return nil
}

func pinsURL(q, status string, after cid.Cid) string {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if status != "" {
		v.Set("status", status)
	}
	v.Set("after", after.String())
	return "/ui/pins?" + v.Encode()
}

// matches reports whether every word is in the pin's name or metadata.
func matches(p pin.Pin, words []string) bool {
	if len(words) == 0 {
		return true
	}
	text := strings.ToLower(p.Name)
	for _, k := range slices.Sorted(maps.Keys(p.Metadata)) {
		text += "\x00" + strings.ToLower(k) + "=" + strings.ToLower(p.Metadata[k])
	}
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

func hasStatus(info pin.Info, want []pin.Status) bool {
	return slices.ContainsFunc(info.Peers, func(ps pin.PeerStatus) bool { return slices.Contains(want, ps.Status) })
}

func pinnedCount(info pin.Info) int {
	n := 0
	for _, ps := range info.Peers {
		if ps.Status == pin.StatusPinned {
			n++
		}
	}
	return n
}

// underReplicated: fewer peers hold the pin than its minimum (every
// member, for a pin replicated everywhere).
func underReplicated(info pin.Info) bool {
	min := info.Pin.ReplicationMin
	if min == pin.Everywhere {
		min = len(info.Peers)
	}
	return pinnedCount(info) < min
}

// summary counts the allocated peers by status: "pinned ×3", "pinned ×2,
// pinning ×1".
func summary(info pin.Info) (text, level string) {
	counts := map[pin.Status]int{}
	for _, ps := range info.Peers {
		if ps.Status != pin.StatusRemote {
			counts[ps.Status]++
		}
	}
	order := []pin.Status{pin.StatusPinned, pin.StatusPinning, pin.StatusPinQueued, pin.StatusPinError,
		pin.StatusUnpinQueued, pin.StatusUnpinning, pin.StatusUnpinned, pin.StatusUnpinError, pin.StatusClusterErr}
	var parts []string
	for _, st := range order {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d", st, counts[st]))
		}
	}
	level = "ok"
	switch {
	case hasStatus(info, []pin.Status{pin.StatusPinError, pin.StatusUnpinError, pin.StatusClusterErr}):
		level = "err"
	case underReplicated(info):
		level = "warn"
	}
	if len(parts) == 0 {
		return "no allocations", "warn"
	}
	return strings.Join(parts, ", "), level
}

func replication(p pin.Pin) string {
	if p.ReplicationMin == pin.Everywhere {
		return "every peer"
	}
	return fmt.Sprintf("%d–%d", p.ReplicationMin, p.ReplicationMax)
}

func rowOf(info pin.Info) pinRow {
	row := pinRow{Cid: info.Pin.Cid.String(), Name: info.Pin.Name, Rep: replication(info.Pin)}
	var meta []string
	for _, k := range slices.Sorted(maps.Keys(info.Pin.Metadata)) {
		meta = append(meta, k+"="+info.Pin.Metadata[k])
	}
	row.Meta = strings.Join(meta, " ")
	row.Summary, row.Level = summary(info)
	return row
}

type peerStatusView struct {
	Peer, Name, Status, Error string
	Since                     time.Time
	Allocated                 bool
}

type allocZone struct {
	Zone  string
	Peers []peerStatusView
}

type pinDetailData struct {
	Cid, Name, Mode, Rep string
	Min, Max             int
	Summary, Level       string
	Expire               time.Time
	Origins              []string
	Meta                 [][2]string
	Zones                []allocZone
	PinUpdate            string
	Gateway              []string
	Created              time.Time
}

// pinDetail shows one pin: its options, its allocations by zone with
// each peer's status, links to the gateway, and the actions. ?part=live
// renders the status part the page refreshes.
func (s *server) pinDetail(w http.ResponseWriter, r *http.Request, v *viewer) error {
	c, err := cid.Decode(r.PathValue("cid"))
	if err != nil {
		return errorf(http.StatusBadRequest, "not a CID: %v", err)
	}
	info, err := s.Cluster.Status(r.Context(), c)
	if err != nil {
		return err
	}
	members, err := s.Cluster.Members(r.Context())
	if err != nil {
		return err
	}
	d := s.detail(info, members, s.gatewayBase(r))
	if r.URL.Query().Get("part") == "live" {
		s.renderPart(w, "pin", "live", v, d)
		return nil
	}
	s.render(w, http.StatusOK, "pin", v, d)
	return nil
}

func (s *server) detail(info pin.Info, members []member.Member, gateway string) pinDetailData {
	p := info.Pin
	d := pinDetailData{Cid: p.Cid.String(), Name: p.Name, Mode: string(p.Mode), Rep: replication(p),
		Min: p.ReplicationMin, Max: p.ReplicationMax, Expire: p.ExpireAt, Origins: p.Origins, Created: p.Timestamp}
	d.Summary, d.Level = summary(info)
	if p.PinUpdate.Defined() && !p.PinUpdate.Equals(p.Cid) {
		d.PinUpdate = p.PinUpdate.String()
	}
	for _, k := range slices.Sorted(maps.Keys(p.Metadata)) {
		d.Meta = append(d.Meta, [2]string{k, p.Metadata[k]})
	}
	byID := map[string]member.Member{}
	for _, m := range members {
		byID[m.ID] = m
	}
	zones := map[string]*allocZone{}
	for _, ps := range info.Peers {
		m := byID[ps.Peer]
		z := cmp.Or(m.Zone, "(no zone)")
		if zones[z] == nil {
			zones[z] = &allocZone{Zone: z}
		}
		zones[z].Peers = append(zones[z].Peers, peerStatusView{Peer: ps.Peer, Name: cmp.Or(m.Name, shortID(ps.Peer)),
			Status: string(ps.Status), Error: ps.Error, Since: ps.Since, Allocated: p.AllocatedTo(ps.Peer)})
	}
	for _, z := range zones {
		d.Zones = append(d.Zones, *z)
	}
	slices.SortFunc(d.Zones, func(a, b allocZone) int { return cmp.Compare(a.Zone, b.Zone) })
	if gateway != "" {
		d.Gateway = append(d.Gateway, gateway+"/ipfs/"+d.Cid)
	}
	return d
}

// confirmData is a confirmation page: what will happen, and the form
// that does it.
type confirmData struct {
	Title, Question string
	Action          string // the form's target
	Fields          [][2]string
	Danger          bool
	Back            string
}

// pinNew pins a CID from the pins page's form, after confirmation.
func (s *server) pinNew(w http.ResponseWriter, r *http.Request, v *viewer) error {
	p, err := pinFromForm(r, s.now())
	if err != nil {
		return err
	}
	if r.PostFormValue("confirmed") != "yes" {
		s.render(w, http.StatusOK, "confirm", v, confirmData{
			Title: "Pin " + p.Cid.String(), Question: fmt.Sprintf("Pin %s as %q with replication %s?", p.Cid, p.Name, replicationAsked(p)),
			Action: "/ui/pins", Fields: formFields(r, "cid", "name", "replication-min", "replication-max", "expire-in", "meta"), Back: "/ui/pins",
		})
		return nil
	}
	placed, err := s.Cluster.Pin(r.Context(), p)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/pins/"+placed.Cid.String(), http.StatusSeeOther)
	return nil
}

// pinAction runs unpin, recover or update on a pin, after confirmation.
func (s *server) pinAction(w http.ResponseWriter, r *http.Request, v *viewer) error {
	c, err := cid.Decode(r.PathValue("cid"))
	if err != nil {
		return errorf(http.StatusBadRequest, "not a CID: %v", err)
	}
	action := r.PathValue("action")
	back := "/ui/pins/" + c.String()
	confirm := confirmData{Action: back + "/" + action, Back: back}
	var next cid.Cid
	switch action {
	case "unpin":
		confirm.Title, confirm.Question, confirm.Danger = "Unpin", fmt.Sprintf("Unpin %s from every peer? Its blocks become garbage on the peers that hold it.", c), true
	case "recover":
		confirm.Title, confirm.Question = "Recover", fmt.Sprintf("Retry the failed operations of %s on its peers?", c)
	case "update":
		if next, err = cid.Decode(strings.TrimSpace(r.PostFormValue("to"))); err != nil {
			return errorf(http.StatusBadRequest, "the new CID: %v", err)
		}
		confirm.Title = "Update"
		confirm.Question = fmt.Sprintf("Pin %s in place of %s, with its options and peers? The old pin stays until unpinned.", next, c)
		confirm.Fields = formFields(r, "to", "name")
	default:
		return errorf(http.StatusNotFound, "no action %q", action)
	}
	if r.PostFormValue("confirmed") != "yes" {
		s.render(w, http.StatusOK, "confirm", v, confirm)
		return nil
	}
	switch action {
	case "unpin":
		if err := s.Cluster.Unpin(r.Context(), c); err != nil {
			return err
		}
		http.Redirect(w, r, "/ui/pins", http.StatusSeeOther)
		return nil
	case "recover":
		if _, err := s.Cluster.Recover(r.Context(), c); err != nil {
			return err
		}
	case "update":
		placed, err := s.Cluster.Pin(r.Context(), pin.Pin{Cid: next, PinUpdate: c, Name: strings.TrimSpace(r.PostFormValue("name"))})
		if err != nil {
			return err
		}
		back = "/ui/pins/" + placed.Cid.String()
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// pinFromForm reads the pin form: cid, name, replication-min/max,
// expire-in (a duration), meta (key=value lines).
func pinFromForm(r *http.Request, now time.Time) (pin.Pin, error) {
	c, err := cid.Decode(strings.TrimSpace(r.PostFormValue("cid")))
	if err != nil {
		return pin.Pin{}, errorf(http.StatusBadRequest, "not a CID: %v", err)
	}
	p := pin.Pin{Cid: c, Name: strings.TrimSpace(r.PostFormValue("name"))}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"replication-min", &p.ReplicationMin}, {"replication-max", &p.ReplicationMax}} {
		if v := strings.TrimSpace(r.PostFormValue(f.name)); v != "" {
			if *f.dst, err = strconv.Atoi(v); err != nil {
				return pin.Pin{}, errorf(http.StatusBadRequest, "%s: %q is not a number", f.name, v)
			}
		}
	}
	if v := strings.TrimSpace(r.PostFormValue("expire-in")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return pin.Pin{}, errorf(http.StatusBadRequest, "expire-in %q: want a positive duration such as 720h", v)
		}
		p.ExpireAt = now.Add(d)
	}
	for _, line := range strings.Split(r.PostFormValue("meta"), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return pin.Pin{}, errorf(http.StatusBadRequest, "metadata %q: want key=value", line)
		}
		if p.Metadata == nil {
			p.Metadata = map[string]string{}
		}
		p.Metadata[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return p, p.Validate(now)
}

func replicationAsked(p pin.Pin) string {
	if p.ReplicationMin == 0 && p.ReplicationMax == 0 {
		return "the cluster's default"
	}
	return fmt.Sprintf("%d–%d", p.ReplicationMin, p.ReplicationMax)
}

// formFields carries the named form values to the confirmation's form.
func formFields(r *http.Request, names ...string) [][2]string {
	var out [][2]string
	for _, n := range names {
		if v := r.PostFormValue(n); v != "" {
			out = append(out, [2]string{n, v})
		}
	}
	return out
}

// gatewayBase is the gateway's URL as the browser reaches it: a gateway
// bound to every interface is on the host the browser asked for.
func (s *server) gatewayBase(r *http.Request) string {
	u, err := url.Parse(s.GatewayURL)
	if err != nil || s.GatewayURL == "" {
		return ""
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
		host := r.Host
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			host = h
		}
		u.Host = net.JoinHostPort(host, u.Port())
	}
	return u.String()
}
