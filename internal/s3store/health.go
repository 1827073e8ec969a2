package s3store

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/sync/singleflight"
)

// reachableFor is how long what the store learned of the bucket answers
// Reachable without a request. A readiness probe every few seconds from
// each load balancer node then costs at most one HeadBucket per interval
// (about $0.01 a month at AWS's prices), and none while the store makes
// requests of its own.
const reachableFor = 5 * time.Second

// health is what the store last learned of whether the bucket answers:
// from the outcome of every operation, after the SDK's retries, and when
// there was none lately from a HeadBucket of its own.
type health struct {
	now    func() time.Time // the store's clock
	mu     sync.Mutex
	err    error     // nil: the bucket answered; guarded by mu
	at     time.Time // when err was learned; zero: never; guarded by mu
	probes singleflight.Group
}

// observe is an SDK middleware, first in the initialize step and so
// outside the retry loop, that records the final outcome of each
// operation. A caller giving up says nothing of the bucket.
func (h *health) observe(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("flotillaHealth",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if ctx.Err() == nil {
				h.record(unreachable(err))
			}
			return out, md, err
		}), middleware.Before)
}

func (h *health) record(err error) {
	h.mu.Lock()
	h.err, h.at = err, h.now()
	h.mu.Unlock()
}

// unreachable keeps the errors that say the bucket cannot serve: no
// answer, a server error (after the SDK's retries), or access denied.
// Any other answer (a missing object, a bad request) came from a bucket
// that works.
func unreachable(err error) error {
	if err == nil {
		return nil
	}
	if status, answered := httpStatus(err); answered && status < 500 && status != http.StatusForbidden {
		return nil
	}
	return err
}

// Reachable reports whether the bucket answers: nil, or the error of the
// last operation or probe that failed to reach it. It answers from what
// the store learned in the last few seconds (reachableFor) and otherwise
// asks S3 with one HeadBucket, without retries, so that it stays cheap
// enough for a readiness probe.
func (s *Store) Reachable(ctx context.Context) error {
	h := &s.health
	h.mu.Lock()
	err, at := h.err, h.at
	h.mu.Unlock()
	if !at.IsZero() && h.now().Sub(at) < reachableFor {
		if err != nil {
			return fmt.Errorf("s3store: bucket %q unreachable: %w", s.cfg.Bucket, err)
		}
		return nil
	}
	ch := h.probes.DoChan("", func() (any, error) {
		// Shared by concurrent probes: not tied to one caller's context.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)},
			func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		if err := unreachable(err); err != nil {
			h.record(err) // a probe that timed out is not seen by observe
			return nil, err
		}
		return nil, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return fmt.Errorf("s3store: bucket %q unreachable: %w", s.cfg.Bucket, r.Err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("s3store: bucket %q did not answer: %w", s.cfg.Bucket, ctx.Err())
	}
}
