package registry

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// repoBlob returns the record of a blob the repository holds (pushed or
// mounted there); a blob of another repository is unknown here.
func (g *Registry) repoBlob(ctx context.Context, repo string, d digest) (blobRecord, error) {
	unknown := errorf(http.StatusNotFound, codeBlobUnknown, "blob %s is not in %s", d, repo).with(map[string]string{"digest": string(d)})
	if ok, err := g.records.get(ctx, linkKey(repo, d), nil); err != nil {
		return blobRecord{}, err
	} else if !ok {
		return blobRecord{}, unknown
	}
	b, ok, err := g.records.blob(ctx, d)
	if err != nil {
		return blobRecord{}, err
	}
	if !ok {
		return blobRecord{}, unknown
	}
	return b, nil
}

// getBlob serves GET and HEAD /v2/<name>/blobs/<digest>, with ranges. A
// HEAD answers from the records alone, without touching the content.
func (g *Registry) getBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	d, ok := parseDigest(rt.ref)
	if !ok {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "invalid digest %q", rt.ref)
	}
	b, err := g.repoBlob(r.Context(), rt.repo, d)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Docker-Content-Digest", string(d))
	h.Set("Etag", `"`+string(d)+`"`)
	h.Set("X-Ipfs-Cid", b.Cid)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", strconv.FormatInt(b.Size, 10))
		return nil
	}
	f, err := g.openContent(r.Context(), b)
	if err != nil {
		return err
	}
	defer f.Close()
	if wt, ok := f.(io.WriterTo); ok && plainGet(r) {
		// A whole blob: each block's data goes out in one write, where
		// ServeContent's copy would cut it into 32 KiB ones.
		h.Set("Content-Length", strconv.FormatInt(b.Size, 10))
		w.WriteHeader(http.StatusOK)
		wt.WriteTo(w) // a failure midway can only cut the body short
		return nil
	}
	// ServeContent answers Range (206, Content-Range, 416) and the
	// conditional headers from the seekable UnixFS reader, which fetches
	// only the blocks it reads.
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

// plainGet reports a GET of the whole content: no range, no condition.
func plainGet(r *http.Request) bool {
	for _, k := range []string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if r.Header.Get(k) != "" {
			return false
		}
	}
	return true
}

// deleteBlob removes a blob from a repository. Its content stays as long
// as an image's pin references it; otherwise it is garbage.
func (g *Registry) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	d, ok := parseDigest(rt.ref)
	if !ok {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "invalid digest %q", rt.ref)
	}
	if _, err := g.repoBlob(r.Context(), rt.repo, d); err != nil {
		return err
	}
	if err := g.records.del(r.Context(), linkKey(rt.repo, d)); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// linkBlob adds a blob to a repository (and the repository to the
// catalog).
func (g *Registry) linkBlob(ctx context.Context, repo string, d digest) error {
	if err := g.records.put(ctx, linkKey(repo, d), struct{}{}); err != nil {
		return err
	}
	return g.addRepo(ctx, repo)
}

// addRepo lists the repository in the catalog, once.
func (g *Registry) addRepo(ctx context.Context, repo string) error {
	if _, ok, err := g.deps.Cluster.LocalRecord(repoKey(repo)); err == nil && ok {
		return nil
	}
	return g.records.put(ctx, repoKey(repo), struct{}{})
}

// blobCreated answers a finished upload or mount.
func blobCreated(w http.ResponseWriter, repo string, d digest, b blobRecord) {
	h := w.Header()
	h.Set("Location", "/v2/"+repo+"/blobs/"+string(d))
	h.Set("Docker-Content-Digest", string(d))
	h.Set("X-Ipfs-Cid", b.Cid)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}
