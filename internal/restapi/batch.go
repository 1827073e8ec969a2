package restapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// POST /pins/batch: bulk pinning, for moving a pinset from another
// service. The body is NDJSON, one pin per line: a CID alone, or an object
// with the fields of a pin as GET /allocations shows them (cid, name, mode,
// replication_factor_min/max, expire_at, metadata, origins,
// user_allocations). The answer streams one line per input line, in order,
// as the pins commit: {"line": n, "cid": ..., "allocations": [...]} or
// {"line": n, "cid": ..., "code": 400, "error": ...}. A bad line fails
// alone; the others go on.
//
// Lines are read while the previous group commits, and each group is as
// large as what arrived meanwhile (up to maxBatchGroup): one placement
// pass and one log entry for thousands of pins.

const (
	maxBatchGroup = 8192
	maxBatchLine  = 64 << 10
)

type batchResult struct {
	Line        int      `json:"line"`
	Cid         string   `json:"cid,omitempty"`
	Allocations []string `json:"allocations,omitempty"`
	Code        int      `json:"code,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// batchLine is one parsed input line: a pin, or why it is not one.
type batchLine struct {
	n   int
	raw string // the CID as given, for the answer
	pin pin.Pin
	err error
}

func (s *server) pinBatch(w http.ResponseWriter, r *http.Request) error {
	// Answers flow while lines still arrive: without this, an HTTP/1
	// server reads the whole body before the first answer is written.
	if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
		return fmt.Errorf("pin batch: %w", err)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	groups := make(chan []batchLine, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(groups)
		readErr <- readBatch(ctx, r, s.now(), groups)
	}()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Trailer", "X-Stream-Error")
	out := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(out)
	started := false
	var failure error
	for group := range groups {
		if failure != nil {
			continue // drain: the reader stops on ctx
		}
		if err := s.commitGroup(ctx, group, enc); err != nil {
			failure = err
			cancel()
			continue
		}
		if !started {
			started = true
			w.WriteHeader(http.StatusOK)
		}
		if err := out.Flush(); err != nil {
			failure = err
			cancel()
			continue
		}
		http.NewResponseController(w).Flush()
	}
	if err := <-readErr; failure == nil && err != nil && ctx.Err() == nil {
		failure = err
	}
	if !started {
		if failure != nil {
			return failure
		}
		w.WriteHeader(http.StatusOK)
	}
	if failure != nil {
		s.Logger.Warn("pin batch stopped", "err", failure)
		w.Header().Set("X-Stream-Error", failure.Error())
	} else {
		w.Header().Set("X-Stream-Error", "")
	}
	return nil
}

// commitGroup sends the good lines of a group to the cluster in one call
// and writes every line's answer.
func (s *server) commitGroup(ctx context.Context, group []batchLine, enc *json.Encoder) error {
	var pins []pin.Pin
	for _, l := range group {
		if l.err == nil {
			pins = append(pins, l.pin)
		}
	}
	var placed []pin.Pin
	var errs []error
	if len(pins) > 0 {
		var err error
		if placed, errs, err = s.Cluster.PinMany(ctx, pins); err != nil {
			return err
		}
	}
	i := 0
	for _, l := range group {
		res := batchResult{Line: l.n, Cid: l.raw}
		err := l.err
		if err == nil {
			if err = errs[i]; err == nil {
				res.Allocations = nonNil(placed[i].Allocations)
			}
			i++
		}
		if err != nil {
			res.Code, res.Error = statusOf(err), err.Error()
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return nil
}

// readBatch parses the body into groups: each group holds what arrived
// while the previous one was taken, up to maxBatchGroup lines.
func readBatch(ctx context.Context, r *http.Request, now time.Time, groups chan<- []batchLine) error {
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64<<10), maxBatchLine)
	var group []batchLine
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		group = append(group, parseBatchLine(n, line, now))
		if len(group) < maxBatchGroup {
			select {
			case groups <- group:
				group = nil
			default: // the committer is busy: this group grows
			}
			continue
		}
		select {
		case groups <- group:
			group = nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading line %d: %w", n+1, err)
	}
	if len(group) > 0 {
		select {
		case groups <- group:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func parseBatchLine(n int, line []byte, now time.Time) batchLine {
	l := batchLine{n: n}
	if line[0] != '{' {
		l.raw = string(line)
		c, err := cid.Decode(l.raw)
		if err != nil {
			l.err = errorf(http.StatusBadRequest, "line %d: error decoding Cid: %v", n, err)
			return l
		}
		l.pin = pin.Pin{Cid: c}
		return l
	}
	var wp wirePin
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wp); err != nil {
		l.err = errorf(http.StatusBadRequest, "line %d: %v", n, err)
		return l
	}
	l.raw = wp.Cid
	c, err := cid.Decode(wp.Cid)
	if err != nil {
		l.err = errorf(http.StatusBadRequest, "line %d: error decoding Cid: %v", n, err)
		return l
	}
	p := pin.Pin{Cid: c, Name: wp.Name, ReplicationMin: wp.ReplicationFactorMin, ReplicationMax: wp.ReplicationFactorMax,
		ExpireAt: wp.ExpireAt, Metadata: wp.Metadata, Origins: wp.Origins, UserAllocations: wp.UserAllocations}
	switch wp.Mode {
	case "", "recursive":
		p.Mode = pin.Recursive
	case "direct":
		p.Mode = pin.Direct
	default:
		l.err = errorf(http.StatusBadRequest, "line %d: unknown mode %q (want recursive or direct)", n, wp.Mode)
		return l
	}
	if wp.PinUpdate != nil {
		l.err = errorf(http.StatusBadRequest, "line %d: pin_update is not taken in a batch", n)
		return l
	}
	if err := p.Validate(now); err != nil {
		l.err = fmt.Errorf("line %d: %w", n, err)
	}
	l.pin = p
	return l
}
