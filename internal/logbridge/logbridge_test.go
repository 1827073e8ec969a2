package logbridge

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	golog "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
	"go.uber.org/zap"
)

// record is what a capture handler saw of one slog record.
type record struct {
	level      slog.Level
	msg        string
	time       time.Time
	attrs      map[string]slog.Value // the With attributes and the record's
	components []string              // every component attribute, in order
}

// capture is a slog handler keeping the records it is given.
type capture struct {
	mu    *sync.Mutex
	recs  *[]record
	attrs []slog.Attr
	level slog.Level
}

func newCapture(level slog.Level) *capture {
	return &capture{mu: new(sync.Mutex), recs: new([]record), level: level}
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.level }

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	n := *c
	n.attrs = append(append([]slog.Attr(nil), c.attrs...), as...)
	return &n
}

func (c *capture) WithGroup(string) slog.Handler { return c }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	rec := record{level: r.Level, msg: r.Message, time: r.Time, attrs: map[string]slog.Value{}}
	add := func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value
		if a.Key == ComponentKey {
			rec.components = append(rec.components, a.Value.String())
		}
		return true
	}
	for _, a := range c.attrs {
		add(a)
	}
	r.Attrs(add)
	c.mu.Lock()
	*c.recs = append(*c.recs, rec)
	c.mu.Unlock()
	return nil
}

func (c *capture) records() []record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]record(nil), *c.recs...)
}

// embedded is what hclog's and go-log's text formats put in a line: a
// timestamp or a level in brackets.
var embedded = regexp.MustCompile(`\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d|\[(TRACE|DEBUG|INFO|WARN|ERROR|ERR)\]|(?i)\b(warn|error|info|debug)\b\s`)

func checkRecord(t *testing.T, r record, level slog.Level, msg, component string) {
	t.Helper()
	if r.level != level || r.msg != msg {
		t.Errorf("record %v %q, want %v %q", r.level, r.msg, level, msg)
	}
	if len(r.components) != 1 || r.components[0] != component {
		t.Errorf("%q: components %q, want exactly [%s]", r.msg, r.components, component)
	}
	if embedded.MatchString(r.msg) {
		t.Errorf("message %q embeds a timestamp or a level", r.msg)
	}
	if r.time.IsZero() || time.Since(r.time) > time.Minute {
		t.Errorf("%q: record time %v, want now", r.msg, r.time)
	}
}

func TestHCLogLevelsAndAttributes(t *testing.T) {
	c := newCapture(slog.LevelDebug)
	l := HCLog(slog.New(c), "raft", hclog.Trace)
	l.Trace("tr")
	l.Debug("de")
	l.Info("in", "term", 3)
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "", "last-leader-id", "")
	l.Error("failed to contact", "id", "12D3", "error", errors.New("dial tcp: refused"))
	l.Log(hclog.Warn, "via Log", "n", hclog.Hex(255))

	recs := c.records()
	if len(recs) != 6 {
		t.Fatalf("%d records, want 6: %+v", len(recs), recs)
	}
	want := []struct {
		level slog.Level
		msg   string
	}{
		{slog.LevelDebug, "tr"}, {slog.LevelDebug, "de"}, {slog.LevelInfo, "in"},
		{slog.LevelWarn, "heartbeat timeout reached, starting election"},
		{slog.LevelError, "failed to contact"}, {slog.LevelWarn, "via Log"},
	}
	for i, w := range want {
		checkRecord(t, recs[i], w.level, w.msg, "raft")
	}
	if v := recs[2].attrs["term"]; v.Kind() != slog.KindInt64 || v.Int64() != 3 {
		t.Errorf("term = %v, want the int 3", v)
	}
	if v, ok := recs[3].attrs["last-leader-addr"]; !ok || v.String() != "" {
		t.Errorf("last-leader-addr = %v (present %v), want an empty attribute", v, ok)
	}
	if err, ok := recs[4].attrs["error"].Any().(error); !ok || err.Error() != "dial tcp: refused" {
		t.Errorf("error = %v, want the error value", recs[4].attrs["error"])
	}
	if v := recs[5].attrs["n"].String(); v != "0xff" {
		t.Errorf("hclog.Hex(255) = %q, want 0xff", v)
	}
}

func TestHCLogLevelFilterShared(t *testing.T) {
	c := newCapture(slog.LevelDebug)
	l := HCLog(slog.New(c), "raft", hclog.Warn)
	sub := l.Named("snapshot")
	sub.Info("dropped")
	l.Debug("dropped")
	if l.IsInfo() || !l.IsWarn() || !sub.IsError() || l.GetLevel() != hclog.Warn {
		t.Errorf("IsInfo %v IsWarn %v IsError %v level %v, want false true true warn", l.IsInfo(), l.IsWarn(), sub.IsError(), l.GetLevel())
	}
	sub.SetLevel(hclog.Info) // related loggers follow
	l.Info("kept")
	if recs := c.records(); len(recs) != 1 || recs[0].msg != "kept" {
		t.Fatalf("records %+v, want only the one after SetLevel", recs)
	}

	// The handler's own level filters too.
	c = newCapture(slog.LevelError)
	l = HCLog(slog.New(c), "raft", hclog.Trace)
	if l.IsWarn() || !l.IsError() {
		t.Errorf("IsWarn %v IsError %v under an error handler", l.IsWarn(), l.IsError())
	}
	l.Warn("dropped")
	if recs := c.records(); len(recs) != 0 {
		t.Errorf("records %+v, want none", recs)
	}
}

func TestHCLogNamedWith(t *testing.T) {
	c := newCapture(slog.LevelDebug)
	l := HCLog(slog.New(c), "raft", hclog.Info)
	w := l.Named("net").With("peer", "a")
	w.Info("one", "k", "v")
	l.ResetNamed("transport").Info("two")
	w.With("odd").Warn("three")
	if got := w.ImpliedArgs(); len(got) != 2 || got[0] != "peer" || l.Name() != "raft" || w.Name() != "raft.net" {
		t.Errorf("implied %v, names %q %q", got, l.Name(), w.Name())
	}
	recs := c.records()
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	checkRecord(t, recs[0], slog.LevelInfo, "one", "raft.net")
	if recs[0].attrs["peer"].String() != "a" || recs[0].attrs["k"].String() != "v" {
		t.Errorf("attrs %v, want peer=a k=v", recs[0].attrs)
	}
	checkRecord(t, recs[1], slog.LevelInfo, "two", "transport")
	if _, ok := recs[1].attrs["peer"]; ok {
		t.Errorf("ResetNamed from the root carried With's attributes")
	}
	if recs[2].attrs[hclog.MissingKey].String() != "odd" {
		t.Errorf("an odd value: attrs %v, want %s=odd", recs[2].attrs, hclog.MissingKey)
	}
}

func TestHCLogStandardLogger(t *testing.T) {
	c := newCapture(slog.LevelDebug)
	l := HCLog(slog.New(c), "raft", hclog.Debug)
	l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERROR] boom")
	l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true, InferLevelsWithTimestamp: true}).Print("2026/01/02 10:11:12 [WARN] late")
	l.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}).Print("[ERROR] forced")
	l.StandardWriter(nil).Write([]byte("plain\n"))
	recs := c.records()
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	checkRecord(t, recs[0], slog.LevelError, "boom", "raft")
	checkRecord(t, recs[1], slog.LevelWarn, "late", "raft")
	checkRecord(t, recs[2], slog.LevelDebug, "forced", "raft")
	checkRecord(t, recs[3], slog.LevelInfo, "plain", "raft")
}

// The daemon hands the cluster a logger with component=cluster; raft's
// lines must still carry one component, raft's, and no time or level in
// the message (as they did when hclog's text went through an io.Writer).
func TestOneComponentText(t *testing.T) {
	var buf bytes.Buffer
	root := slog.New(OneComponent(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})))
	clusterLog := root.With("component", "cluster")
	HCLog(clusterLog.With("subsystem", "raft"), "raft", hclog.Warn).Warn("heartbeat timeout reached", "last-leader-id", "")
	clusterLog.Info("leading the cluster")
	clusterLog.WithGroup("g").Info("grouped", "component", "inner")
	root.Info("plain")
	want := `level=WARN msg="heartbeat timeout reached" component=raft subsystem=raft last-leader-id=""
level=INFO msg="leading the cluster" component=cluster
level=INFO msg=grouped component=cluster g.component=inner
level=INFO msg=plain
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestOneComponentRecords(t *testing.T) {
	c := newCapture(slog.LevelDebug)
	l := slog.New(OneComponent(c)).With("component", "a", "x", 1).With("component", "b")
	l.Info("m1")
	l.Info("m2", "component", "c", "y", 2)
	recs := c.records()
	checkRecord(t, recs[0], slog.LevelInfo, "m1", "b")
	checkRecord(t, recs[1], slog.LevelInfo, "m2", "c")
	if recs[1].attrs["x"].Int64() != 1 || recs[1].attrs["y"].Int64() != 2 {
		t.Errorf("attrs %v, want x=1 y=2", recs[1].attrs)
	}
}

// GoLog changes process-wide state: one test covers go-log and gologshim.
func TestGoLog(t *testing.T) {
	t.Setenv("GOLOG_LOG_LEVEL", "")
	t.Setenv("IPFS_LOGGING", "")
	c := newCapture(slog.LevelDebug)
	GoLog(slog.New(c), slog.LevelWarn)

	gl := golog.Logger("logbridge-test")
	gl.Infow("below the level", "k", 1)
	gl.Warnw("bitswap: want failed", "k", 1, "peer", "12D3", "took", 1500*time.Millisecond)
	gl.Errorf("boom %d", 7)
	gl.Desugar().Error("zap", zap.Error(errors.New("dial refused")))

	shim := gologshim.Logger("logbridge-shim")
	shim.Info("below the level")
	shim.Warn("resource manager: limit reached", "scope", "system", "n", 3)

	recs := c.records()
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4 (each line once, none below warn): %+v", len(recs), recs)
	}
	checkRecord(t, recs[0], slog.LevelWarn, "bitswap: want failed", "logbridge-test")
	if recs[0].attrs["k"].Int64() != 1 || recs[0].attrs["peer"].String() != "12D3" || recs[0].attrs["took"].Duration() != 1500*time.Millisecond {
		t.Errorf("attrs %v, want k=1 peer=12D3 took=1.5s", recs[0].attrs)
	}
	checkRecord(t, recs[1], slog.LevelError, "boom 7", "logbridge-test")
	checkRecord(t, recs[2], slog.LevelError, "zap", "logbridge-test")
	if err, ok := recs[2].attrs["error"].Any().(error); !ok || err.Error() != "dial refused" {
		t.Errorf("error attr %v, want the error", recs[2].attrs["error"])
	}
	checkRecord(t, recs[3], slog.LevelWarn, "resource manager: limit reached", "logbridge-shim")
	if recs[3].attrs["scope"].String() != "system" || !strings.Contains(recs[3].attrs["n"].String(), "3") {
		t.Errorf("attrs %v, want scope=system n=3", recs[3].attrs)
	}
	if _, ok := recs[3].attrs["logger"]; ok {
		t.Errorf("gologshim's logger attribute leaked: %v", recs[3].attrs)
	}

	// GOLOG_LOG_LEVEL still decides per subsystem when set.
	t.Setenv("GOLOG_LOG_LEVEL", "error,logbridge-dbg=debug")
	golog.SetLogLevel("logbridge-dbg", "debug") // what go-log's init does from the variable
	c = newCapture(slog.LevelDebug)
	GoLog(slog.New(c), slog.LevelWarn)
	golog.Logger("logbridge-dbg").Debug("verbose")
	if recs := c.records(); len(recs) != 1 || recs[0].level != slog.LevelDebug {
		t.Errorf("records %+v, want the debug line of the subsystem GOLOG_LOG_LEVEL named", recs)
	}
}
