package s3store

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config says where the packs live and how the local side is sized.
// Credentials are not part of it: they come from the AWS SDK's default
// chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the shared files, an ECS
// task role), so no secret ever sits in a flag or a config file.
type Config struct {
	// Bucket holds the packs. Required; it must exist.
	Bucket string
	// Prefix is the store's namespace in the bucket ("" or a path such as
	// "flotilla/zone-a"). The store expects to own everything under it.
	Prefix string
	// Endpoint is the URL of an S3-compatible server; empty means AWS.
	Endpoint string
	// Region signs the requests; empty takes the SDK's (AWS_REGION, the
	// shared config), and us-east-1 with an Endpoint and none of those.
	Region string
	// PathStyle addresses the bucket in the path (http://host/bucket/key)
	// instead of the host name, as most S3-compatible servers want.
	PathStyle bool
	// Shared says that every peer of the cluster writes to this bucket and
	// prefix. The store then aborts only its own unfinished uploads (and
	// other writers' once they are a day old) instead of every one under
	// the prefix.
	Shared bool
	// CacheSize bounds the local disk cache of pack ranges, in bytes. The
	// cache also holds what a coalesced read fetched beyond the block asked
	// for, so it must hold several reads: at least 4 × ReadSize.
	CacheSize int64
	// PackSize is the size at which a batch being written is sealed into a
	// pack and uploaded, and the most that concurrent small commits are
	// grouped into. Bigger packs mean fewer PUTs and more memory: a batch
	// holds up to two packs while one uploads.
	PackSize int64
	// MultipartSize is the pack size from which a pack is uploaded in
	// parts (of PartSize, several at once) rather than with one PUT.
	MultipartSize int64
	// PartSize is the size of one part of a multipart upload (S3 wants at
	// least 5 MiB).
	PartSize int64
	// ReadSize is how much of a pack one GET reads, aligned to multiples of
	// it: a block and its neighbours, which the DAG's next reads likely
	// want. Smaller wastes fewer bytes on random reads; larger makes fewer
	// requests on sequential ones.
	ReadSize int64
	// CompactEvery is how often a store with a prefix of its own rewrites
	// the packs that GC left mostly dead (0: never). A shared bucket's
	// packs are compacted by the cluster's collection instead.
	CompactEvery time.Duration
}

// DefaultConfig returns the sizes of a fresh store; Bucket is left to set.
func DefaultConfig() Config {
	return Config{
		CacheSize:     1 << 30,
		PackSize:      64 << 20,
		MultipartSize: 64 << 20,
		PartSize:      16 << 20,
		ReadSize:      4 << 20,
		CompactEvery:  10 * time.Minute,
	}
}

const minPartSize = 5 << 20 // S3's minimum for every part but the last

// Validate checks the settings, naming the one at fault.
func (c Config) Validate() error {
	var errs []error
	if c.Bucket == "" {
		errs = append(errs, errors.New("s3store: a bucket is required (--s3-bucket)"))
	}
	if strings.HasPrefix(c.Prefix, "/") || strings.Contains(c.Prefix, "//") {
		errs = append(errs, fmt.Errorf("s3store: prefix %q: want a relative path without empty segments, such as flotilla/zone-a", c.Prefix))
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("s3store: endpoint %q: want an http:// or https:// URL", c.Endpoint))
		}
	}
	if c.ReadSize <= 0 {
		errs = append(errs, fmt.Errorf("s3store: read size %d: must be positive", c.ReadSize))
	}
	if c.CacheSize < 4*c.ReadSize {
		errs = append(errs, fmt.Errorf("s3store: cache size %d (--s3-cache-size): must be at least 4 × the read size (%d)", c.CacheSize, 4*c.ReadSize))
	}
	if c.PackSize <= 0 {
		errs = append(errs, fmt.Errorf("s3store: pack size %d: must be positive", c.PackSize))
	}
	if c.PartSize < minPartSize {
		errs = append(errs, fmt.Errorf("s3store: part size %d: S3 wants at least %d", c.PartSize, minPartSize))
	}
	if c.MultipartSize < c.PartSize {
		errs = append(errs, fmt.Errorf("s3store: multipart size %d: must be at least the part size (%d)", c.MultipartSize, c.PartSize))
	}
	if c.CompactEvery < 0 {
		errs = append(errs, fmt.Errorf("s3store: compaction interval %s (--s3-compact-interval): must be 0 (never) or positive", c.CompactEvery))
	}
	return errors.Join(errs...)
}

// prefix returns the key prefix of the store's objects: "" or "p/".
func (c Config) keyPrefix() string {
	p := strings.TrimSuffix(c.Prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}
