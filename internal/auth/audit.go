package auth

import (
	"net/http"
	"sync"
	"time"
)

// AuditRecord is one request in the audit log.
type AuditRecord struct {
	At     time.Time
	API    string // the API (or front end) the request went to
	User   string // "-": not authenticated; "name (token id)" for a token
	Method string
	Path   string
	Status int
	Client string // as the guard sees it (trusted proxies resolved)
	Took   time.Duration
}

// DefaultAuditKeep is how many audit records a guard keeps in memory by
// default.
const DefaultAuditKeep = 500

// auditRing keeps the last records of the audit log in memory, for the
// web console. It is this process's: other peers keep their own, and a
// restart empties it (the log written to the daemon's logger stays).
type auditRing struct {
	mu   sync.Mutex    // guards recs, next
	recs []AuditRecord // a ring of cap(recs) records; len grows to cap
	next int           // where the next record goes once full
}

func newAuditRing(n int) *auditRing { return &auditRing{recs: make([]AuditRecord, 0, max(n, 0))} }

func (a *auditRing) add(r AuditRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case cap(a.recs) == 0:
	case len(a.recs) < cap(a.recs):
		a.recs = append(a.recs, r)
	default:
		a.recs[a.next] = r
		a.next = (a.next + 1) % len(a.recs)
	}
}

// newestFirst copies the records out, newest first.
func (a *auditRing) newestFirst() []AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AuditRecord, 0, len(a.recs))
	for i := range a.recs {
		// The newest is just before next (or the last, while not full).
		j := (a.next - 1 - i + 2*len(a.recs)) % len(a.recs)
		out = append(out, a.recs[j])
	}
	return out
}

// audit writes one request to the audit log and keeps it in the ring.
func (g *Guard) audit(api, who string, r *http.Request, client string, status int, took time.Duration) {
	took = took.Round(time.Microsecond)
	g.cfg.Audit.Info("request", "api", api, "user", who, "method", r.Method, "path", r.URL.Path,
		"status", status, "client", client, "took", took.String())
	g.recent.add(AuditRecord{At: g.now(), API: api, User: who, Method: r.Method, Path: r.URL.Path,
		Status: status, Client: client, Took: took})
}

// AuditLog returns the last requests of this guard's audit log (at most
// Config.AuditKeep), newest first. Only this process's requests are in it.
func (g *Guard) AuditLog() []AuditRecord { return g.recent.newestFirst() }
