package pinsvc

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseQuery(t *testing.T) {
	c1, c2 := testCid(1).String(), testCid(2).String()
	for _, tc := range []struct {
		query    string
		cids     []string
		statuses []string
		name     string
		match    string
		limit    int
		before   string
		meta     map[string]string
	}{
		{query: "", statuses: []string{"pinned"}, match: "exact", limit: 10},
		{query: "cid=" + c1 + "," + c2 + "&cid=" + c1, cids: []string{c1, c2}, statuses: []string{"pinned"}, match: "exact", limit: 10},
		{query: "status=queued,failed&status=pinning", statuses: []string{"failed", "pinning", "queued"}, match: "exact", limit: 10},
		{query: "name=a+b&match=ipartial&limit=1000", statuses: []string{"pinned"}, name: "a b", match: "ipartial", limit: 1000},
		{query: "before=2020-07-27T17:32:28.123456789%2B02:00&limit=1", statuses: []string{"pinned"}, match: "exact", limit: 1, before: "2020-07-27T15:32:28.123456789Z"},
		{query: "meta=%7B%22a%22:%22b%22%7D&unknown=1", statuses: []string{"pinned"}, match: "exact", limit: 10, meta: map[string]string{"a": "b"}},
	} {
		q, _ := url.ParseQuery(tc.query)
		lq, err := parseQuery(q)
		if err != nil {
			t.Errorf("parseQuery(%q): %v", tc.query, err)
			continue
		}
		var cids []string
		for _, c := range lq.cids {
			cids = append(cids, c.String())
		}
		statuses := slices.Sorted(func(yield func(string) bool) {
			for s := range lq.statuses {
				if !yield(s) {
					return
				}
			}
		})
		if !slices.Equal(cids, tc.cids) || !slices.Equal(statuses, tc.statuses) || lq.name != tc.name || lq.match != tc.match || lq.limit != tc.limit {
			t.Errorf("parseQuery(%q) = cids %q statuses %q name %q match %q limit %d, want %q %q %q %q %d",
				tc.query, cids, statuses, lq.name, lq.match, lq.limit, tc.cids, tc.statuses, tc.name, tc.match, tc.limit)
		}
		if tc.before != "" {
			want, _ := time.Parse(time.RFC3339Nano, tc.before)
			if !lq.before.Equal(want) {
				t.Errorf("parseQuery(%q) before = %s, want %s", tc.query, lq.before, want)
			}
		}
		if len(lq.meta) != len(tc.meta) || lq.meta["a"] != tc.meta["a"] {
			t.Errorf("parseQuery(%q) meta = %v, want %v", tc.query, lq.meta, tc.meta)
		}
	}
}

// FuzzParseQuery: any query either fails with a 400 and a message, or
// yields filters within the spec's limits; it never panics.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "cid=" + testCid(1).String(), "status=queued,pinning&status=failed", "name=x&match=iexact",
		"before=2020-07-27T17:32:28Z&after=2020-07-27T17:32:28.5%2B01:00", "limit=1000", "limit=-1",
		`meta={"a":"b"}`, "meta=null", "cid=,,", "status=", "name=%FF%FE", "limit=99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := parseQuery(q)
		if err != nil {
			if statusOf(err) != 400 || err.Error() == "" {
				t.Errorf("parseQuery(%q) error %v with status %d, want 400 with a message", raw, err, statusOf(err))
			}
			return
		}
		if lq.limit < 1 || lq.limit > maxLimit {
			t.Errorf("parseQuery(%q) limit = %d", raw, lq.limit)
		}
		if len(lq.cids) > maxCids {
			t.Errorf("parseQuery(%q) %d CIDs", raw, len(lq.cids))
		}
		for _, c := range lq.cids {
			if !c.Defined() {
				t.Errorf("parseQuery(%q) has an undefined CID", raw)
			}
		}
		if len(lq.statuses) == 0 {
			t.Errorf("parseQuery(%q) matches no status", raw)
		}
		for s := range lq.statuses {
			if !slices.Contains(allStatuses, s) {
				t.Errorf("parseQuery(%q) status %q", raw, s)
			}
		}
		if utf8.RuneCountInString(lq.name) > maxName || !slices.Contains([]string{matchExact, matchIExact, matchPartial, matchIPartial}, lq.match) {
			t.Errorf("parseQuery(%q) name %q match %q", raw, lq.name, lq.match)
		}
		r := request{ID: strings.Repeat("0", idLen), Cid: testCid(1), Name: "x"}
		lq.matches(r) // must not panic
	})
}

func TestIDs(t *testing.T) {
	c := clock{now: func() time.Time { return t0 }}
	prev := ""
	for i := range 100 {
		id := newID(c.next())
		created, ok := idTime(id)
		if !ok || len(id) != idLen {
			t.Fatalf("newID = %q: not an ID", id)
		}
		if want := t0.Add(time.Duration(i)); !created.Equal(want) {
			t.Errorf("ID %d created %s, want %s (strictly increasing at a standing clock)", i, created, want)
		}
		if id <= prev {
			t.Errorf("ID %q sorts before the previous %q", id, prev)
		}
		prev = id
	}
	for _, bad := range []string{"", "x", strings.Repeat("0", idLen-1), strings.Repeat("w", idLen), strings.Repeat("V", idLen), strings.Repeat("v", idLen), "../" + strings.Repeat("0", idLen-3)} {
		if _, ok := idTime(bad); ok {
			t.Errorf("idTime(%q) accepted a malformed ID", bad)
		}
	}
}
