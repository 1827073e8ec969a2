package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// What names the content lives in the cluster's replicated records (the
// raft log and every peer's state), so that whatever one peer took is seen
// through every other, read after write. The keys:
//
//	registry/blob/<digest>                        digest → CID, size (global: a digest names one content)
//	registry/repo/<repo>                          the repository exists (the catalog)
//	registry/link/<repo>@<digest>                 the repository holds this blob
//	registry/manifest/<repo>@<digest>             a manifest of the repository: type, parts, its pin
//	registry/tag/<repo>:<tag>                     tag → manifest digest
//	registry/referrer/<repo>@<subject>/<digest>   a manifest whose subject is <subject>
//
// '@' and ':' never occur in a repository name, so one repository's keys
// never fall under another's prefix ("a" and "a/b").
const recordPrefix = "registry/"

func blobKey(d digest) string              { return recordPrefix + "blob/" + string(d) }
func repoKey(repo string) string           { return recordPrefix + "repo/" + repo }
func linkKey(repo string, d digest) string { return recordPrefix + "link/" + repo + "@" + string(d) }
func manifestKey(repo string, d digest) string {
	return recordPrefix + "manifest/" + repo + "@" + string(d)
}
func tagPrefix(repo string) string   { return recordPrefix + "tag/" + repo + ":" }
func tagKey(repo, tag string) string { return tagPrefix(repo) + tag }
func referrerPrefix(repo string, subject digest) string {
	return recordPrefix + "referrer/" + repo + "@" + string(subject) + "/"
}
func referrerKey(repo string, subject, d digest) string {
	return referrerPrefix(repo, subject) + string(d)
}

// blobRecord maps a digest to its content in IPFS.
type blobRecord struct {
	Cid  string `json:"cid"`
	Size int64  `json:"size"`
	// DagSize is the DAG's cumulative size (a UnixFS link's Tsize), for
	// the image directories that link the blob.
	DagSize uint64 `json:"dag_size"`
}

// manifestRecord is a manifest of one repository.
type manifestRecord struct {
	MediaType    string `json:"media_type"`
	Size         int64  `json:"size"`
	ArtifactType string `json:"artifact_type,omitempty"`
	Subject      string `json:"subject,omitempty"`
	// Parts are every blob and manifest the manifest references, through
	// its index children too: what its pin must hold besides itself.
	Parts []string `json:"parts,omitempty"`
	// Root is the pinned directory linking the manifest and its parts.
	Root string `json:"root"`
	// ByDigest: the manifest was pushed by digest, so it stays when its
	// last tag goes.
	ByDigest bool `json:"by_digest,omitempty"`
}

type tagRecord struct {
	Digest string `json:"digest"`
}

// referrerRecord is the descriptor a referrers list answers.
type referrerRecord struct {
	descriptor
	// AnnotationsInManifest: the annotations were too large for the
	// record and are read from the manifest itself.
	AnnotationsInManifest bool `json:"annotations_in_manifest,omitempty"`
}

// records reads and writes the registry's records through the cluster.
type records struct{ c Cluster }

// get reads key as of every acknowledged write into v; ok is false when
// there is no such record.
func (s records) get(ctx context.Context, key string, v any) (bool, error) {
	raw, ok, err := s.c.Record(ctx, key)
	if err != nil || !ok {
		return false, err
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			return false, fmt.Errorf("record %s: %w", key, err)
		}
	}
	return true, nil
}

func (s records) put(ctx context.Context, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.c.PutRecord(ctx, key, raw)
}

func (s records) del(ctx context.Context, key string) error { return s.c.DeleteRecord(ctx, key) }

// blob reads a digest's content record. The mapping never changes once
// written (a digest names one content, imported one way), so this peer's
// copy answers when it has it, and the leader is asked only otherwise.
func (s records) blob(ctx context.Context, d digest) (blobRecord, bool, error) {
	var b blobRecord
	if raw, ok, err := s.c.LocalRecord(blobKey(d)); err == nil && ok && json.Unmarshal(raw, &b) == nil {
		return b, true, nil
	}
	ok, err := s.get(ctx, blobKey(d), &b)
	return b, ok, err
}

// errStop ends a scan early.
var errStop = errors.New("stop")

// scan calls fn with the key suffixes after prefix, in key order, after
// the suffix after ("" from the first), until fn returns false.
func (s records) scan(ctx context.Context, prefix, after string, fn func(suffix string, raw []byte) bool) error {
	from := ""
	if after != "" {
		from = prefix + after
	}
	err := s.c.Records(ctx, prefix, from, func(key string, raw []byte) error {
		if !fn(strings.TrimPrefix(key, prefix), raw) {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}
