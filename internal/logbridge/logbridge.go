// Package logbridge routes the logs of the libraries flotilla is built on
// into the process's one *slog.Logger, so that every line has the same
// format, level filter and destination as flotilla's own.
//
// It exists because each library brings its own logging: hashicorp/raft
// logs through go-hclog, boxo and the DHT through ipfs/go-log (zap), and
// go-libp2p through its gologshim (slog, wired to go-log). Left alone, each
// writes its own format to stderr, or, fed through an io.Writer, arrives as
// a message with a timestamp and a level embedded in its text. Here each
// record becomes a slog record: the library's level mapped to slog's, its
// key/value pairs kept as attributes, its time as the record's time, and
// one attribute "component" naming where it comes from (component=raft,
// component=<go-log subsystem>).
package logbridge

import (
	"context"
	"log/slog"
)

// ComponentKey is the attribute naming the part of the process a record
// comes from.
const ComponentKey = "component"

// OneComponent wraps h so that a record carries one component attribute
// (a *slog.Logger cannot drop an attribute it was given): the innermost
// wins, the record's own over the loggers', the latest With over earlier
// ones. So a library logger built from log.With("component", "cluster")
// logs component=raft, not both. It comes first, before the other
// attributes, as the outermost With put it. After a WithGroup the
// attributes go to h as they are (inside the group, a "component" is a
// different key).
func OneComponent(h slog.Handler) slog.Handler {
	if o, ok := h.(*oneComponent); ok {
		return o
	}
	return &oneComponent{inner: h}
}

type oneComponent struct {
	inner     slog.Handler
	component slog.Value
	has       bool // whether there is a component
	// attrs are the With attributes other than the component, kept back so
	// that the component can be placed first at Handle.
	attrs []slog.Attr
}

func (o *oneComponent) Enabled(ctx context.Context, l slog.Level) bool {
	return o.inner.Enabled(ctx, l)
}

func (o *oneComponent) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return o
	}
	n := &oneComponent{inner: o.inner, component: o.component, has: o.has}
	n.attrs = make([]slog.Attr, len(o.attrs), len(o.attrs)+len(as))
	copy(n.attrs, o.attrs)
	for _, a := range as {
		if a.Key == ComponentKey {
			n.component, n.has = a.Value, true
			continue
		}
		n.attrs = append(n.attrs, a)
	}
	return n
}

func (o *oneComponent) WithGroup(name string) slog.Handler {
	if name == "" {
		return o
	}
	return o.inner.WithAttrs(o.flat()).WithGroup(name)
}

// flat is the kept-back attributes, component first.
func (o *oneComponent) flat() []slog.Attr {
	if !o.has {
		return o.attrs
	}
	return append([]slog.Attr{{Key: ComponentKey, Value: o.component}}, o.attrs...)
}

func (o *oneComponent) Handle(ctx context.Context, r slog.Record) error {
	comp, has := o.component, o.has
	own := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == ComponentKey {
			comp, has, own = a.Value, true, true
		}
		return true
	})
	if !own && len(o.attrs) == 0 && !has {
		return o.inner.Handle(ctx, r)
	}
	n := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	if has {
		n.AddAttrs(slog.Attr{Key: ComponentKey, Value: comp})
	}
	n.AddAttrs(o.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != ComponentKey {
			n.AddAttrs(a)
		}
		return true
	})
	return o.inner.Handle(ctx, n)
}
