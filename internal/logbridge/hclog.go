package logbridge

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// HCLog returns a go-hclog logger (hashicorp/raft's) that logs into log:
// each line a slog record with component=name (Named appends ".sub", as
// hclog does), hclog's level mapped (Trace and Debug to Debug, Info, Warn,
// Error), its key/value pairs as attributes. Lines below level are dropped
// (NoLevel: Info, hclog's default); SetLevel on it or on any logger
// derived from it changes them all.
func HCLog(log *slog.Logger, name string, level hclog.Level) hclog.Logger {
	if level == hclog.NoLevel {
		level = hclog.DefaultLevel
	}
	lv := new(atomic.Int32)
	lv.Store(int32(level))
	return &hcLogger{log: log, name: name, level: lv}
}

type hcLogger struct {
	log     *slog.Logger
	name    string
	level   *atomic.Int32 // shared by the loggers derived from one HCLog
	implied []any         // With's key/value pairs
}

var _ hclog.Logger = (*hcLogger)(nil)

// slogLevel maps an hclog level to slog's.
func slogLevel(l hclog.Level) slog.Level {
	switch {
	case l <= hclog.Debug: // Trace too
		return slog.LevelDebug
	case l == hclog.Info:
		return slog.LevelInfo
	case l == hclog.Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (l *hcLogger) enabled(level hclog.Level) bool {
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	if level >= hclog.Off || level < hclog.Level(l.level.Load()) {
		return false
	}
	return l.log.Handler().Enabled(context.Background(), slogLevel(level))
}

// emit logs one record; skip is runtime.Callers' for the caller of the
// public method (0: no source).
func (l *hcLogger) emit(skip int, level hclog.Level, msg string, args []any) {
	if !l.enabled(level) {
		return
	}
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	var pc uintptr
	if skip > 0 {
		var pcs [1]uintptr
		runtime.Callers(skip, pcs[:])
		pc = pcs[0]
	}
	r := slog.NewRecord(time.Now(), slogLevel(level), msg, pc)
	if l.name != "" {
		r.AddAttrs(slog.String(ComponentKey, l.name))
	}
	r.AddAttrs(hcAttrs(l.implied)...)
	r.AddAttrs(hcAttrs(args)...)
	_ = l.log.Handler().Handle(context.Background(), r)
}

// hcAttrs turns hclog's alternating keys and values into attributes. An
// odd value at the end is hclog's stack trace or a value without a key.
func hcAttrs(kv []any) []slog.Attr {
	if len(kv) == 0 {
		return nil
	}
	out := make([]slog.Attr, 0, (len(kv)+1)/2)
	for i := 0; i < len(kv); i += 2 {
		if i+1 == len(kv) {
			if st, ok := kv[i].(hclog.CapturedStacktrace); ok {
				out = append(out, slog.String("stacktrace", string(st)))
			} else {
				out = append(out, slog.Any(hclog.MissingKey, hcValue(kv[i])))
			}
			break
		}
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		out = append(out, slog.Any(key, hcValue(kv[i+1])))
	}
	return out
}

// hcValue renders hclog's formatting types as hclog's text output does;
// other values are left to the slog handler.
func hcValue(v any) any {
	switch v := v.(type) {
	case hclog.Format:
		if len(v) == 0 {
			return ""
		}
		if f, ok := v[0].(string); ok {
			return fmt.Sprintf(f, v[1:]...)
		}
		return fmt.Sprint(v...)
	case hclog.Hex:
		return fmt.Sprintf("0x%x", int(v))
	case hclog.Octal:
		return fmt.Sprintf("0%o", int(v))
	case hclog.Binary:
		return fmt.Sprintf("0b%b", int(v))
	case hclog.Quote:
		return strconv.Quote(string(v))
	case hclog.CapturedStacktrace:
		return string(v)
	}
	return v
}

func (l *hcLogger) Log(level hclog.Level, msg string, args ...any) { l.emit(3, level, msg, args) }
func (l *hcLogger) Trace(msg string, args ...any)                  { l.emit(3, hclog.Trace, msg, args) }
func (l *hcLogger) Debug(msg string, args ...any)                  { l.emit(3, hclog.Debug, msg, args) }
func (l *hcLogger) Info(msg string, args ...any)                   { l.emit(3, hclog.Info, msg, args) }
func (l *hcLogger) Warn(msg string, args ...any)                   { l.emit(3, hclog.Warn, msg, args) }
func (l *hcLogger) Error(msg string, args ...any)                  { l.emit(3, hclog.Error, msg, args) }

func (l *hcLogger) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *hcLogger) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *hcLogger) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *hcLogger) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *hcLogger) IsError() bool { return l.enabled(hclog.Error) }

func (l *hcLogger) ImpliedArgs() []any { return append([]any(nil), l.implied...) }

func (l *hcLogger) With(args ...any) hclog.Logger {
	n := *l
	n.implied = append(append([]any(nil), l.implied...), args...)
	return &n
}

func (l *hcLogger) Name() string { return l.name }

func (l *hcLogger) Named(name string) hclog.Logger {
	n := *l
	if l.name != "" && name != "" {
		n.name = l.name + "." + name
	} else if name != "" {
		n.name = name
	}
	return &n
}

func (l *hcLogger) ResetNamed(name string) hclog.Logger {
	n := *l
	n.name = name
	return &n
}

func (l *hcLogger) SetLevel(level hclog.Level) {
	if level == hclog.NoLevel {
		level = hclog.DefaultLevel
	}
	l.level.Store(int32(level))
}

func (l *hcLogger) GetLevel() hclog.Level { return hclog.Level(l.level.Load()) }

func (l *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// StandardWriter logs each write as one record, at opts.ForceLevel, else
// at the level its [LEVEL] prefix names when opts.InferLevels (the prefix
// removed), else at Info.
func (l *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	w := &stdWriter{log: l}
	if opts != nil {
		w.opts = *opts
	}
	return w
}

type stdWriter struct {
	log  *hcLogger
	opts hclog.StandardLoggerOptions
}

// leadingTime matches what may precede a level prefix: a timestamp, as
// hclog's own writer skips it.
var leadingTime = regexp.MustCompile(`^[\d\s:/.+\-TZ]*`)

func (w *stdWriter) Write(p []byte) (int, error) {
	s := strings.TrimRight(string(p), " \t\n")
	level := hclog.Info
	switch {
	case w.opts.ForceLevel != hclog.NoLevel:
		_, s = pickLevel(s)
		level = w.opts.ForceLevel
	case w.opts.InferLevels:
		if w.opts.InferLevelsWithTimestamp {
			s = s[len(leadingTime.FindString(s)):]
		}
		level, s = pickLevel(s)
	}
	w.log.emit(0, level, s, nil)
	return len(p), nil
}

// pickLevel reads and removes a [LEVEL] prefix.
func pickLevel(s string) (hclog.Level, string) {
	for _, p := range []struct {
		prefix string
		level  hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error},
	} {
		if rest, ok := strings.CutPrefix(s, p.prefix); ok {
			return p.level, strings.TrimSpace(rest)
		}
	}
	return hclog.Info, s
}
