package pinsvc

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	cid "github.com/ipfs/go-cid"
)

// Limits of the spec.
const (
	defaultLimit = 10
	maxLimit     = 1000
	maxCids      = 10
	maxName      = 255 // characters
)

// Statuses of a request, as the spec names them.
const (
	statusQueued  = "queued"
	statusPinning = "pinning"
	statusPinned  = "pinned"
	statusFailed  = "failed"
)

var allStatuses = []string{statusQueued, statusPinning, statusPinned, statusFailed}

// Name matching strategies (the spec's TextMatchingStrategy).
const (
	matchExact    = "exact"
	matchIExact   = "iexact"
	matchPartial  = "partial"
	matchIPartial = "ipartial"
)

// listQuery is a parsed GET /pins: every filter must hold.
type listQuery struct {
	cids     []cid.Cid       // any of them; none: any CID
	name     string          // "": any name
	match    string          // how name matches; one of the match* constants
	statuses map[string]bool // non-empty
	before   time.Time       // created strictly before; zero: no bound
	after    time.Time       // created strictly after; zero: no bound
	limit    int             // 1..maxLimit
	meta     map[string]string
}

// parseQuery reads the filters of GET /pins. Lists (cid, status) may be
// comma-separated (as kubo sends them) or repeated (as the spec's form
// style has them); other parameters must appear at most once. Anything
// malformed is an error; unknown parameters are ignored.
func parseQuery(q url.Values) (listQuery, error) {
	lq := listQuery{match: matchExact, limit: defaultLimit, statuses: map[string]bool{statusPinned: true}}
	for _, k := range []string{"name", "match", "before", "after", "limit", "meta"} {
		if len(q[k]) > 1 {
			return listQuery{}, badRequest("parameter %s is given %d times", k, len(q[k]))
		}
	}

	for _, s := range listParam(q, "cid") {
		c, err := cid.Decode(s)
		if err != nil {
			return listQuery{}, badRequest("cid %q: %v", s, err)
		}
		if !slices.ContainsFunc(lq.cids, c.Equals) {
			lq.cids = append(lq.cids, c)
		}
	}
	if len(lq.cids) > maxCids {
		return listQuery{}, badRequest("cid: %d CIDs, at most %d", len(lq.cids), maxCids)
	}
	if vs := q["cid"]; len(vs) > 0 && len(lq.cids) == 0 {
		return listQuery{}, badRequest("cid is empty")
	}

	lq.name = q.Get("name")
	if n := utf8.RuneCountInString(lq.name); n > maxName {
		return listQuery{}, badRequest("name: %d characters, at most %d", n, maxName)
	}
	switch m := q.Get("match"); m {
	case "":
	case matchExact, matchIExact, matchPartial, matchIPartial:
		lq.match = m
	default:
		return listQuery{}, badRequest("match %q: want exact, iexact, partial or ipartial", m)
	}

	if ss := listParam(q, "status"); len(ss) > 0 || len(q["status"]) > 0 {
		lq.statuses = map[string]bool{}
		for _, s := range ss {
			if !slices.Contains(allStatuses, s) {
				return listQuery{}, badRequest("status %q: want queued, pinning, pinned or failed", s)
			}
			lq.statuses[s] = true
		}
		if len(lq.statuses) == 0 {
			return listQuery{}, badRequest("status is empty")
		}
	}

	var err error
	if lq.before, err = timeParam(q, "before"); err != nil {
		return listQuery{}, err
	}
	if lq.after, err = timeParam(q, "after"); err != nil {
		return listQuery{}, err
	}

	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return listQuery{}, badRequest("limit %q: want an integer from 1 to %d", v, maxLimit)
		}
		lq.limit = n
	}

	if v := q.Get("meta"); v != "" || q.Has("meta") {
		if err := json.Unmarshal([]byte(v), &lq.meta); err != nil || lq.meta == nil {
			return listQuery{}, badRequest(`meta %q: want a JSON object of strings, like {"app_id":"x"}`, v)
		}
	}
	return lq, nil
}

// listParam splits every value of a list parameter at commas; empty items
// are kept, to be rejected by the caller's check.
func listParam(q url.Values, k string) []string {
	var out []string
	for _, v := range q[k] {
		for _, s := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

func timeParam(q url.Values, k string) (time.Time, error) {
	if !q.Has(k) {
		return time.Time{}, nil
	}
	v := q.Get(k)
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest("%s %q: want an RFC 3339 timestamp, like 2020-07-27T17:32:28Z", k, v)
	}
	return t, nil
}

// matches reports whether r passes every filter but the status, which
// needs the cluster.
func (lq listQuery) matches(r request) bool {
	if !lq.after.IsZero() && !r.Created.After(lq.after) {
		return false
	}
	if !lq.before.IsZero() && !r.Created.Before(lq.before) {
		return false
	}
	if len(lq.cids) > 0 && !slices.ContainsFunc(lq.cids, r.Cid.Equals) {
		return false
	}
	if lq.name != "" && !nameMatches(r.Name, lq.name, lq.match) {
		return false
	}
	for k, v := range lq.meta {
		if got, ok := r.Meta[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// anyStatus reports whether the status filter keeps everything, so that
// statuses are needed for the page only.
func (lq listQuery) anyStatus() bool { return len(lq.statuses) == len(allStatuses) }

func nameMatches(name, want, how string) bool {
	switch how {
	case matchIExact:
		return strings.EqualFold(name, want)
	case matchPartial:
		return strings.Contains(name, want)
	case matchIPartial:
		return strings.Contains(strings.ToLower(name), strings.ToLower(want))
	}
	return name == want
}

// badRequest is a 400 with details.
func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, format, args...)
}
