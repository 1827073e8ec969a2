package s3bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// perBlockStore is go-ds-s3's storage model: one object per block, no
// index, no local state. It stands in for github.com/ipfs/go-ds-s3
// because the Go module proxy this project builds from refuses that
// module (403 on its version list and on v0.11.1), so the real library
// cannot be linked here.
//
// Each method makes the S3 requests go-ds-s3's S3Bucket makes for it
// (its aws-sdk-go-v2 version, with its defaults: the "default" key
// transform, so one key per block and no fallback lookups, and no
// CacheDirectory, so no local file cache):
//
//	Put            PutObject
//	Get            GetObject
//	Has, GetSize   HeadObject
//	Delete         DeleteObject
//	Query          ListObjectsV2, 1,000 keys a page (and a GetObject per
//	               key unless KeysOnly)
//	Batch.Commit   a PutObject per block, Workers (100) at a time, and a
//	               DeleteObjects per 1,000 deletions
//
// The request pattern is what the benchmark counts; the code is this
// project's own.
type perBlockStore struct {
	client  *s3.Client
	bucket  string
	root    string // RootDirectory: the key prefix, without a trailing slash
	workers int
}

var _ ds.Batching = (*perBlockStore)(nil)

// perBlockWorkers is go-ds-s3's default Workers: the PUTs one batch
// commit runs at once.
const perBlockWorkers = 100

// perBlockListMax is the page size of go-ds-s3's listings (S3's maximum),
// and perBlockDeleteMax the most keys one DeleteObjects takes.
const (
	perBlockListMax   = 1000
	perBlockDeleteMax = 1000
)

// openPerBlock returns a store of the objects under root in bucket at
// endpoint. Like go-ds-s3 it loads the SDK's default configuration (the
// credentials from the environment) and addresses the bucket in the path.
func openPerBlock(ctx context.Context, endpoint, region, bucket, root string) (*perBlockStore, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("perblock: loading the AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	return &perBlockStore{client: client, bucket: bucket, root: strings.Trim(root, "/"), workers: perBlockWorkers}, nil
}

// objectKey is the object of a datastore key: <root>/<key without its
// leading slash>.
func (s *perBlockStore) objectKey(k ds.Key) string {
	return path.Join(s.root, strings.TrimPrefix(k.String(), "/"))
}

func (s *perBlockStore) Put(ctx context.Context, k ds.Key, value []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(k)), Body: bytes.NewReader(value),
	})
	return err
}

func (s *perBlockStore) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(k))})
	if err != nil {
		if notFound(err) {
			return nil, ds.ErrNotFound
		}
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (s *perBlockStore) Has(ctx context.Context, k ds.Key) (bool, error) {
	_, err := s.GetSize(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *perBlockStore) GetSize(ctx context.Context, k ds.Key) (int, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(k))})
	if err != nil {
		if notFound(err) {
			return -1, ds.ErrNotFound
		}
		return -1, err
	}
	return int(aws.ToInt64(out.ContentLength)), nil
}

func (s *perBlockStore) Delete(ctx context.Context, k ds.Key) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(k))})
	if notFound(err) {
		return nil
	}
	return err
}

// Query lists the objects under the root, a page at a time as the
// results are read.
func (s *perBlockStore) Query(ctx context.Context, q query.Query) (query.Results, error) {
	if q.Orders != nil || q.Filters != nil {
		return nil, errors.New("perblock: filters and orders are not supported (nor are they by go-ds-s3)")
	}
	prefix := s.root
	if p := strings.TrimPrefix(q.Prefix, "/"); p != "" {
		prefix = path.Join(s.root, p)
	}
	if prefix != "" {
		prefix += "/"
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(perBlockListMax)}
	var (
		page    []types.Object
		more    = true
		skipped int
		yielded int
	)
	next := func() (query.Result, bool) {
		for {
			if q.Limit > 0 && yielded >= q.Limit {
				return query.Result{}, false
			}
			for len(page) == 0 {
				if !more {
					return query.Result{}, false
				}
				out, err := s.client.ListObjectsV2(ctx, in)
				if err != nil {
					more = false
					return query.Result{Error: err}, true
				}
				page, more = out.Contents, aws.ToBool(out.IsTruncated)
				in.ContinuationToken = out.NextContinuationToken
			}
			o := page[0]
			page = page[1:]
			if skipped < q.Offset {
				skipped++
				continue
			}
			name := aws.ToString(o.Key)
			e := query.Entry{Key: ds.NewKey(name[strings.LastIndexByte(name, '/')+1:]).String(), Size: int(aws.ToInt64(o.Size))}
			if !q.KeysOnly {
				v, err := s.Get(ctx, ds.NewKey(e.Key))
				if err != nil {
					return query.Result{Error: err}, true
				}
				e.Value = v
			}
			yielded++
			return query.Result{Entry: e}, true
		}
	}
	plain := q
	plain.Offset, plain.Limit = 0, 0 // applied above
	return query.ResultsFromIterator(plain, query.Iterator{Next: next, Close: func() error { return nil }}), nil
}

func (s *perBlockStore) Sync(context.Context, ds.Key) error { return nil }

func (s *perBlockStore) Close() error { return nil }

func (s *perBlockStore) Batch(context.Context) (ds.Batch, error) {
	return &perBlockBatch{s: s, ops: map[ds.Key][]byte{}, deletes: map[ds.Key]bool{}}, nil
}

// perBlockBatch holds its writes until Commit, which PUTs each block
// (workers at a time) and deletes in groups of up to 1,000 keys.
type perBlockBatch struct {
	s       *perBlockStore
	mu      sync.Mutex
	ops     map[ds.Key][]byte // puts; guarded by mu
	deletes map[ds.Key]bool   // guarded by mu
}

func (b *perBlockBatch) Put(_ context.Context, k ds.Key, v []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.deletes, k)
	b.ops[k] = v
	return nil
}

func (b *perBlockBatch) Delete(_ context.Context, k ds.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.ops, k)
	b.deletes[k] = true
	return nil
}

func (b *perBlockBatch) Commit(ctx context.Context) error {
	b.mu.Lock()
	ops, deletes := b.ops, b.deletes
	b.ops, b.deletes = map[ds.Key][]byte{}, map[ds.Key]bool{}
	b.mu.Unlock()

	var jobs []func() error
	for k, v := range ops {
		jobs = append(jobs, func() error { return b.s.Put(ctx, k, v) })
	}
	var objs []types.ObjectIdentifier
	for k := range deletes {
		objs = append(objs, types.ObjectIdentifier{Key: aws.String(b.s.objectKey(k))})
	}
	for len(objs) > 0 {
		n := min(len(objs), perBlockDeleteMax)
		group := objs[:n]
		objs = objs[n:]
		jobs = append(jobs, func() error {
			out, err := b.s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
				Bucket: aws.String(b.s.bucket), Delete: &types.Delete{Objects: group},
			})
			if err != nil {
				return err
			}
			for _, e := range out.Errors {
				if aws.ToString(e.Code) != "NoSuchKey" {
					return fmt.Errorf("perblock: deleting %s: %s", aws.ToString(e.Key), aws.ToString(e.Message))
				}
			}
			return nil
		})
	}

	work := make(chan func() error)
	errs := make(chan error, len(jobs))
	var wg sync.WaitGroup
	for range min(b.s.workers, len(jobs)) {
		wg.Go(func() {
			for job := range work {
				errs <- job()
			}
		})
	}
	for _, job := range jobs {
		work <- job
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return fmt.Errorf("perblock: batch: %w", err)
	}
	return nil
}

// notFound reports whether S3 answered 404 (NoSuchKey, or NotFound for a
// HEAD, which has no body to name the error).
func notFound(err error) bool {
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}
