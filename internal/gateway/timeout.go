package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// errRetrievalTimeout is the cause of a request context cancelled because
// nothing was written for RetrievalTimeout.
var errRetrievalTimeout = errors.New("gateway: retrieval timeout: no data within the time limit")

// withRetrievalTimeout (local: the gateway cannot fetch) enforces Config.RetrievalTimeout: the time to the
// first byte and between two writes. Where boxo's middleware runs every
// request on a second goroutine (a new stack to grow, per request) and a
// watcher, this one arms a timer: when it fires with nothing written, the
// request's context is cancelled with errRetrievalTimeout, which the
// backend's calls return and errorMapper turns into 504; when it fires
// after the headers, the response is cut by a write deadline in the past
// (a truncated stream, which clients must detect, as the specs say).
func withRetrievalTimeout(next http.Handler, timeout time.Duration, local bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &activityWriter{ResponseWriter: w, local: local}
		defer tw.finish()
		if timeout <= 0 {
			next.ServeHTTP(tw, r)
			return
		}
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		tw.touch()
		var timer *time.Timer
		timer = time.AfterFunc(timeout, func() {
			idle := time.Since(time.Unix(0, tw.last.Load()))
			if idle < timeout {
				timer.Reset(timeout - idle) // written since: wait for the rest
				return
			}
			cancel(errRetrievalTimeout)
			if tw.wrote.Load() {
				http.NewResponseController(w).SetWriteDeadline(time.Now())
			}
		})
		defer timer.Stop()
		next.ServeHTTP(tw, r.WithContext(ctx))
	})
}

// timedOut reports whether ctx ended because of the retrieval timeout.
func timedOut(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errRetrievalTimeout)
}

// activityWriter records when the response last made progress, and
// corrects one status boxo gets wrong: a UnixFS file whose root is present
// but a child block is missing fails in the reader with "failed to fetch
// all nodes" (merkledag drops the not-found error), which boxo answers
// 500. The specs want 404 from a gateway that cannot fetch (local), and
// 502 from one that can but did not get the block.
type activityWriter struct {
	http.ResponseWriter
	local   bool         // the gateway cannot fetch: missing is final
	last    atomic.Int64 // unix nanoseconds of the last write
	wrote   atomic.Bool  // headers sent
	pending bool         // a 500 held back until its body says why
}

func (a *activityWriter) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activityWriter) WriteHeader(code int) {
	a.touch()
	if code == http.StatusInternalServerError && !a.pending && !a.wrote.Load() {
		a.pending = true
		return
	}
	if code >= 200 {
		a.wrote.Store(true)
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *activityWriter) Write(p []byte) (int, error) {
	if a.pending {
		a.pending = false
		code := http.StatusInternalServerError
		if bytes.Contains(p, []byte("failed to fetch all nodes")) {
			code = http.StatusBadGateway
			if a.local {
				code = http.StatusNotFound
			}
			a.Header().Del("Cache-Control") // not an answer to keep
			a.Header().Del("Etag")
		}
		a.ResponseWriter.WriteHeader(code)
	}
	a.wrote.Store(true)
	n, err := a.ResponseWriter.Write(p)
	if n > 0 {
		a.touch()
	}
	return n, err
}

// finish sends a 500 that was held back and never got a body.
func (a *activityWriter) finish() {
	if a.pending {
		a.pending = false
		a.ResponseWriter.WriteHeader(http.StatusInternalServerError)
	}
}

func (a *activityWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (a *activityWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }
