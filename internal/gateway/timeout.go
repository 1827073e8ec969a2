package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// errRetrievalTimeout is the cause of a request context cancelled because
// nothing was written for RetrievalTimeout.
var errRetrievalTimeout = errors.New("gateway: retrieval timeout: no data within the time limit")

// withRetrievalTimeout enforces Config.RetrievalTimeout: the time to the
// first byte and between two writes. Where boxo's middleware runs every
// request on a second goroutine (a new stack to grow, per request) and a
// watcher, this one arms a timer: when it fires with nothing written, the
// request's context is cancelled with errRetrievalTimeout, which the
// backend's calls return and errorMapper turns into 504; when it fires
// after the headers, the response is cut by a write deadline in the past
// (a truncated stream, which clients must detect, as the specs say).
func withRetrievalTimeout(next http.Handler, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		tw := &activityWriter{ResponseWriter: w}
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

// activityWriter records when the response last made progress.
type activityWriter struct {
	http.ResponseWriter
	last  atomic.Int64 // unix nanoseconds of the last write
	wrote atomic.Bool  // headers sent
}

func (a *activityWriter) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activityWriter) WriteHeader(code int) {
	a.touch()
	if code >= 200 {
		a.wrote.Store(true)
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *activityWriter) Write(p []byte) (int, error) {
	a.wrote.Store(true)
	n, err := a.ResponseWriter.Write(p)
	if n > 0 {
		a.touch()
	}
	return n, err
}

func (a *activityWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (a *activityWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }
