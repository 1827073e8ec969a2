package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Every audited request, through the guard or from a front end, is kept
// in memory too, newest first, and only the last AuditKeep of them.
func TestAuditLogKeepsTheLastRequests(t *testing.T) {
	f := newFixture(t)
	f.do("GET", "/pins", "10.0.0.1:1", basic("admin", "root-pw"))
	f.do("POST", "/pins/x", "192.0.2.7:1", basic("reader", "read-pw")) // forbidden
	f.do("GET", "/pins", "192.0.2.8:1", nil)                           // unauthorized
	r := httptest.NewRequest("POST", "/ui/pins", nil)
	r.RemoteAddr = "192.0.2.9:1"
	f.guard.Audit("console", Principal{User: "admin", TokenID: "t1"}, r, http.StatusSeeOther, time.Millisecond)

	got := f.guard.AuditLog()
	want := []string{
		"console admin (token t1) POST /ui/pins 303 192.0.2.9",
		"test - GET /pins 401 192.0.2.8",
		"test reader POST /pins/x 403 192.0.2.7",
		"test admin GET /pins 200 10.0.0.1",
	}
	if len(got) != len(want) {
		t.Fatalf("AuditLog() has %d records, want %d: %+v", len(got), len(want), got)
	}
	for i, rec := range got {
		if s := fmt.Sprintf("%s %s %s %s %d %s", rec.API, rec.User, rec.Method, rec.Path, rec.Status, rec.Client); s != want[i] {
			t.Errorf("AuditLog()[%d] = %q, want %q", i, s, want[i])
		}
		if rec.At.IsZero() {
			t.Errorf("AuditLog()[%d] has no time", i)
		}
	}
	if n := strings.Count(f.audit.String(), `"msg":"request"`); n != len(want) {
		t.Errorf("%d lines in the audit logger, want %d: the ring must not replace the log", n, len(want))
	}

	for _, tc := range []struct{ keep, requests, wantLen int }{
		{keep: 3, requests: 7, wantLen: 3},
		{keep: 3, requests: 2, wantLen: 2},
		{keep: -1, requests: 2, wantLen: 0},
	} {
		g, err := NewGuard(Config{AuditKeep: tc.keep})
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.requests {
			g.Audit("api", Principal{User: fmt.Sprint(i)}, httptest.NewRequest("GET", "/", nil), 200, 0)
		}
		got := g.AuditLog()
		if len(got) != tc.wantLen {
			t.Fatalf("keep %d, %d requests: %d records, want %d", tc.keep, tc.requests, len(got), tc.wantLen)
		}
		for i, rec := range got {
			if want := fmt.Sprint(tc.requests - 1 - i); rec.User != want {
				t.Errorf("keep %d, %d requests: record %d is request %s, want %s (newest first)", tc.keep, tc.requests, i, rec.User, want)
			}
		}
	}
}
