package logbridge

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sort"

	golog "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
	"go.uber.org/zap/zapcore"
)

// GoLog routes ipfs/go-log (boxo, the DHT) and go-libp2p's loggers
// (gologshim, wired to go-log's slog bridge as go-log recommends) into log:
// each line a slog record with component=<subsystem> ("go-log" for the
// rare line without one), zap's level mapped (DPanic and above to Error),
// its fields as attributes. go-log's own output (stderr) is replaced, not
// added to, so that a line is logged once.
//
// Every subsystem logs at level and above, unless GOLOG_LOG_LEVEL (or
// IPFS_LOGGING) is set: then it decides, per subsystem if it says so, as in
// Kubo ("error,dht=debug"); log's handler still filters by its own level.
//
// It changes process-wide state: call it once, at start, before go-libp2p
// logs anything (gologshim binds a logger to its handler at its first
// line).
func GoLog(log *slog.Logger, level slog.Level) {
	if os.Getenv("GOLOG_LOG_LEVEL") == "" && os.Getenv("IPFS_LOGGING") == "" {
		cfg := golog.GetConfig()
		cfg.Level = goLogLevel(level)
		golog.SetupLogging(cfg) // sets the level of new subsystems too
	}
	golog.SetPrimaryCore(&zapCore{h: log.Handler()})
	gologshim.SetDefaultHandler(golog.SlogHandler())
}

func goLogLevel(l slog.Level) golog.LogLevel {
	switch {
	case l < slog.LevelInfo:
		return golog.LevelDebug
	case l < slog.LevelWarn:
		return golog.LevelInfo
	case l < slog.LevelError:
		return golog.LevelWarn
	}
	return golog.LevelError
}

func zapToSlog(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// zapCore is a zap core writing to a slog handler.
type zapCore struct {
	h      slog.Handler
	fields []zapcore.Field // With's
}

var _ zapcore.Core = (*zapCore)(nil)

func (c *zapCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), zapToSlog(l))
}

func (c *zapCore) With(fs []zapcore.Field) zapcore.Core {
	return &zapCore{h: c.h, fields: append(slices.Clip(c.fields), fs...)}
}

func (c *zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	r := slog.NewRecord(e.Time, zapToSlog(e.Level), e.Message, e.Caller.PC)
	comp := e.LoggerName
	if comp == "" {
		comp = "go-log"
	}
	r.AddAttrs(slog.String(ComponentKey, comp))
	addFields(&r, c.fields)
	addFields(&r, fs)
	return c.h.Handle(context.Background(), r)
}

func (c *zapCore) Sync() error { return nil }

// addFields adds zap fields as attributes: strings and errors as they
// are, the rest as zap itself would encode them.
func addFields(r *slog.Record, fs []zapcore.Field) {
	for _, f := range fs {
		switch f.Type {
		case zapcore.SkipType:
		case zapcore.StringType:
			r.AddAttrs(slog.String(f.Key, f.String))
		case zapcore.ErrorType:
			if err, ok := f.Interface.(error); ok {
				r.AddAttrs(slog.Any(f.Key, err))
				break
			}
			fallthrough
		default:
			enc := zapcore.NewMapObjectEncoder()
			f.AddTo(enc)
			keys := make([]string, 0, len(enc.Fields))
			for k := range enc.Fields {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				r.AddAttrs(slog.Any(k, enc.Fields[k]))
			}
		}
	}
}
