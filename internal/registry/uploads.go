package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// An upload in progress is a session in this process's memory and, for
// chunks, a file under the upload directory: the requests of one upload
// are served by the peer that started it, which its ID names, and other
// peers hand them over to it (handoff.go). A stream
// from the first byte (a monolithic POST, or docker's single PATCH) is
// imported into the node as it arrives instead, and its digest checked at
// the end: written once, not staged and read again. Content whose digest
// turns out wrong is never recorded, and its blocks are garbage once their
// short mark (uploadIdle) expires. The running sha256 spares a second
// read for the common algorithm.
type upload struct {
	id   string
	repo string
	path string

	// Held by the one request writing or finishing the upload; the fields
	// below are guarded by it.
	mu     chan struct{}
	size   int64
	sha256 hash.Hash
	done   bool // finished or cancelled: the session is gone
	// imported holds the upload when it came as one stream from its
	// first byte (docker's PATCH): it was imported as it arrived, with
	// nothing staged, and only its digest is left to check.
	imported *blobRecord

	touched time.Time // guarded by Registry.mu
}

// uploadIdle is how long an upload may sit untouched before it is dropped
// (checked when another upload starts).
const uploadIdle = time.Hour

func (u *upload) lock(ctx context.Context) error {
	select {
	case u.mu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (u *upload) unlock() { <-u.mu }

// startUpload serves POST /v2/<name>/blobs/uploads/: a mount
// (?mount=&from=), a monolithic upload (?digest= with the body), or a new
// session for PATCH and PUT.
func (g *Registry) startUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	q := r.URL.Query()
	if m := q.Get("mount"); m != "" {
		if d, ok := parseDigest(m); ok {
			if b, ok, err := g.mountable(ctx, d, q.Get("from")); err != nil {
				return err
			} else if ok {
				if err := g.linkBlob(ctx, rt.repo, d); err != nil {
					return err
				}
				blobCreated(w, rt.repo, d, b)
				return nil
			}
		}
		// Not mountable: the spec says to start an upload instead.
	}
	if ds := q.Get("digest"); ds != "" {
		d, ok := parseDigest(ds)
		if !ok {
			return errorf(http.StatusBadRequest, codeDigestInvalid, "invalid digest %q", ds)
		}
		h := d.newHash()
		b, err := g.importBody(r, h)
		if err != nil {
			return err
		}
		if got := digestFromHash(d.algorithm(), h); got != d {
			return digestMismatch(b.Size, got, d)
		}
		if err := g.recordBlob(ctx, rt.repo, d, b); err != nil {
			return err
		}
		blobCreated(w, rt.repo, d, b)
		return nil
	}
	u, err := g.newUpload(rt.repo)
	if err != nil {
		return err
	}
	uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

// mountable reports whether the blob may be mounted: it is in the source
// repository, or, with no source named, known to the registry at all.
func (g *Registry) mountable(ctx context.Context, d digest, from string) (blobRecord, bool, error) {
	if from != "" {
		if !validRepo(from) {
			return blobRecord{}, false, nil
		}
		b, err := g.repoBlob(ctx, from, d)
		var e *apiError
		if errors.As(err, &e) && e.code == codeBlobUnknown {
			return blobRecord{}, false, nil
		}
		return b, err == nil, err
	}
	return g.records.blob(ctx, d)
}

// newUpload creates a session and its file, dropping idle sessions first.
func (g *Registry) newUpload(repo string) (*upload, error) {
	id := make([]byte, 16)
	rand.Read(id)
	u := &upload{id: uploadID(g.deps.Cluster.ID(), hex.EncodeToString(id)), repo: repo, mu: make(chan struct{}, 1), sha256: sha256.New(), touched: g.now()}
	u.path = filepath.Join(g.deps.UploadDir, u.id)
	f, err := os.OpenFile(u.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	f.Close()
	g.mu.Lock()
	var idle []*upload
	for _, o := range g.uploads {
		if g.now().Sub(o.touched) > uploadIdle {
			idle = append(idle, o)
		}
	}
	g.uploads[u.id] = u
	g.mu.Unlock()
	for _, o := range idle {
		if o.lock(context.Background()) == nil {
			g.dropUpload(o)
			o.unlock()
		}
	}
	return u, nil
}

// session finds the upload a request names; it is returned locked.
func (g *Registry) session(ctx context.Context, rt route) (*upload, error) {
	g.mu.Lock()
	u := g.uploads[rt.ref]
	if u != nil {
		u.touched = g.now()
	}
	g.mu.Unlock()
	unknown := errorf(http.StatusNotFound, codeBlobUploadUnknown, "no upload %q in %s (uploads live on the peer that started them, until finished, cancelled, idle for %s or that peer stops)", rt.ref, rt.repo, uploadIdle)
	if u == nil || u.repo != rt.repo {
		return nil, unknown
	}
	if err := u.lock(ctx); err != nil {
		return nil, err
	}
	if u.done {
		u.unlock()
		return nil, unknown
	}
	return u, nil
}

// dropUpload forgets a session and removes its file (the caller holds it,
// or it was never shared).
func (g *Registry) dropUpload(u *upload) {
	u.done = true
	g.mu.Lock()
	delete(g.uploads, u.id)
	g.mu.Unlock()
	os.Remove(u.path)
}

// uploadAccepted answers a session's state: where to send the next chunk
// and what was received so far (Range: 0-<last byte>, 0-0 when empty, as
// distribution answers).
func uploadAccepted(w http.ResponseWriter, u *upload, status int) {
	h := w.Header()
	h.Set("Location", "/v2/"+u.repo+"/blobs/uploads/"+u.id)
	h.Set("Docker-Upload-UUID", u.id)
	h.Set("Range", fmt.Sprintf("0-%d", max(u.size-1, 0)))
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
}

func (g *Registry) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) error {
	u, err := g.session(r.Context(), rt)
	if err != nil {
		return err
	}
	defer u.unlock()
	uploadAccepted(w, u, http.StatusNoContent)
	return nil
}

// patchUpload appends a chunk (Content-Range start-end) or a stream (no
// Content-Range) to the upload.
func (g *Registry) patchUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	u, err := g.session(r.Context(), rt)
	if err != nil {
		return err
	}
	defer u.unlock()
	if err := checkChunkRange(w, r, u); err != nil {
		return err
	}
	if u.size == 0 && r.Header.Get("Content-Range") == "" {
		b, err := g.importBody(r, u.sha256)
		if err != nil {
			u.sha256.Reset() // the upload is empty again
			return err
		}
		u.size, u.imported = b.Size, &b
		uploadAccepted(w, u, http.StatusAccepted)
		return nil
	}
	if err := g.stage(r.Context(), u); err != nil {
		return err
	}
	if err := g.appendBody(r, u); err != nil {
		return err
	}
	uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

// finishUpload serves PUT ?digest=, with an optional last chunk.
func (g *Registry) finishUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	u, err := g.session(ctx, rt)
	if err != nil {
		return err
	}
	defer u.unlock()
	ds := r.URL.Query().Get("digest")
	d, ok := parseDigest(ds)
	if !ok {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "invalid or missing digest %q", ds)
	}
	if err := checkChunkRange(w, r, u); err != nil {
		return err
	}
	if r.ContentLength != 0 {
		if err := g.stage(ctx, u); err != nil {
			return err
		}
		if err := g.appendBody(r, u); err != nil {
			return err
		}
	}
	b, err := g.complete(ctx, u, d)
	if err != nil {
		return err
	}
	blobCreated(w, rt.repo, d, b)
	return nil
}

func (g *Registry) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	u, err := g.session(r.Context(), rt)
	if err != nil {
		return err
	}
	defer u.unlock()
	g.dropUpload(u)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkChunkRange refuses a chunk that does not start where the upload
// ends (416, with the upload's state for the client to resume from).
func checkChunkRange(w http.ResponseWriter, r *http.Request, u *upload) error {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return nil
	}
	cr = strings.TrimPrefix(cr, "bytes ")
	a, b, ok := strings.Cut(cr, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || start != u.size || end < start {
		h := w.Header()
		h.Set("Location", "/v2/"+u.repo+"/blobs/uploads/"+u.id)
		h.Set("Range", fmt.Sprintf("0-%d", max(u.size-1, 0)))
		return errorf(http.StatusRequestedRangeNotSatisfiable, codeBlobUploadInvalid, "chunk %q does not start at %d, where the upload ends", r.Header.Get("Content-Range"), u.size)
	}
	if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
		return errorf(http.StatusBadRequest, codeSizeInvalid, "Content-Range %q holds %d bytes, Content-Length says %d", r.Header.Get("Content-Range"), end-start+1, r.ContentLength)
	}
	return nil
}

// appendBody writes the request body at the end of the upload. A body cut
// short leaves the upload as it was received (size and hash agree with the
// file), for the client to resume or finish.
func (g *Registry) appendBody(r *http.Request, u *upload) error {
	f, err := os.OpenFile(u.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(io.MultiWriter(f, u.sha256), r.Body)
	u.size += n
	if err != nil {
		return errorf(http.StatusBadRequest, codeSizeInvalid, "upload cut short after %d bytes: %v", n, err)
	}
	if r.ContentLength > 0 && n != r.ContentLength {
		return errorf(http.StatusBadRequest, codeSizeInvalid, "received %d bytes of a %d-byte body", n, r.ContentLength)
	}
	return nil
}

// complete verifies the upload against d and, only when it matches,
// records it in the repository (importing it first when it was staged).
// Either way the session ends: a wrong digest stores nothing.
func (g *Registry) complete(ctx context.Context, u *upload, d digest) (blobRecord, error) {
	defer g.dropUpload(u)
	var got digest
	if d.algorithm() == "sha256" {
		got = digestFromHash("sha256", u.sha256)
	} else {
		rc, err := g.uploadReader(ctx, u)
		if err != nil {
			return blobRecord{}, err
		}
		h := d.newHash()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return blobRecord{}, err
		}
		got = digestFromHash(d.algorithm(), h)
	}
	if got != d {
		return blobRecord{}, digestMismatch(u.size, got, d)
	}
	var b blobRecord
	if u.imported != nil {
		b = *u.imported
	} else {
		f, err := os.Open(u.path)
		if err != nil {
			return blobRecord{}, err
		}
		defer f.Close()
		if b, err = g.importContent(ctx, f, uploadGrace); err != nil {
			return blobRecord{}, err
		}
	}
	return b, g.recordBlob(ctx, u.repo, d, b)
}

func digestMismatch(size int64, got, want digest) error {
	return errorf(http.StatusBadRequest, codeDigestInvalid, "the upload's %d bytes have digest %s, not %s", size, got, want).with(map[string]string{"digest": string(want)})
}

// recordBlob names verified content: digest → CID, and the repository's
// link to it.
func (g *Registry) recordBlob(ctx context.Context, repo string, d digest, b blobRecord) error {
	g.keepVerified(b)
	if err := g.records.put(ctx, blobKey(d), b); err != nil {
		return err
	}
	if err := g.linkBlob(ctx, repo, d); err != nil {
		return err
	}
	g.log.Debug("blob stored", "repo", repo, "digest", d, "cid", b.Cid, "size", b.Size)
	return nil
}

// importBody imports a request body as it arrives, hashing it into h; the
// content is kept only briefly (uploadIdle) until its digest is checked.
// A body cut short, or longer or shorter than its Content-Length, is
// SIZE_INVALID.
func (g *Registry) importBody(r *http.Request, h hash.Hash) (blobRecord, error) {
	br := &bodyReader{r: r.Body}
	b, err := g.importContent(r.Context(), io.TeeReader(br, h), uploadIdle)
	if br.err != nil {
		return blobRecord{}, errorf(http.StatusBadRequest, codeSizeInvalid, "upload cut short: %v", br.err)
	}
	if err != nil {
		return blobRecord{}, err
	}
	if r.ContentLength >= 0 && b.Size != r.ContentLength {
		return blobRecord{}, errorf(http.StatusBadRequest, codeSizeInvalid, "received %d bytes of a %d-byte body", b.Size, r.ContentLength)
	}
	return b, nil
}

// bodyReader remembers a read error of the request body, to tell a client
// that went away from a failure of the import.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// stage turns an imported stream back into a staged file, when more
// chunks follow it (a client resuming, rare): the file gets the content
// read back from the node.
func (g *Registry) stage(ctx context.Context, u *upload) error {
	if u.imported == nil {
		return nil
	}
	rc, err := g.openContent(ctx, *u.imported)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.OpenFile(u.path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, rc); err != nil {
		return err
	}
	u.imported = nil
	return nil
}

// uploadReader reads the upload so far.
func (g *Registry) uploadReader(ctx context.Context, u *upload) (io.ReadCloser, error) {
	if u.imported != nil {
		return g.openContent(ctx, *u.imported)
	}
	return os.Open(u.path)
}
