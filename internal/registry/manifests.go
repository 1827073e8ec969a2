package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	cid "github.com/ipfs/go-cid"
)

// resolveRef reads a manifest reference: a digest, or a tag resolved
// through its record. tag is "" for a digest.
func (g *Registry) resolveRef(ctx context.Context, repo, ref string) (d digest, tag string, err error) {
	if strings.Contains(ref, ":") {
		d, ok := parseDigest(ref)
		if !ok {
			return "", "", errorf(http.StatusBadRequest, codeDigestInvalid, "invalid digest %q", ref)
		}
		return d, "", nil
	}
	if !validTag(ref) {
		return "", "", errorf(http.StatusNotFound, codeManifestUnknown, "invalid tag %q", ref)
	}
	var t tagRecord
	ok, err := g.records.get(ctx, tagKey(repo, ref), &t)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", errorf(http.StatusNotFound, codeManifestUnknown, "no tag %q in %s", ref, repo).with(map[string]string{"tag": ref})
	}
	return digest(t.Digest), ref, nil
}

func (g *Registry) manifestRecord(ctx context.Context, repo string, d digest) (manifestRecord, error) {
	var rec manifestRecord
	ok, err := g.records.get(ctx, manifestKey(repo, d), &rec)
	if err != nil {
		return rec, err
	}
	if !ok {
		return rec, errorf(http.StatusNotFound, codeManifestUnknown, "no manifest %s in %s", d, repo).with(map[string]string{"digest": string(d)})
	}
	return rec, nil
}

// getManifest serves GET and HEAD /v2/<name>/manifests/<reference>. The
// stored media type is answered whatever the Accept header says: the
// registry converts nothing.
func (g *Registry) getManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	d, _, err := g.resolveRef(ctx, rt.repo, rt.ref)
	if err != nil {
		return err
	}
	rec, err := g.manifestRecord(ctx, rt.repo, d)
	if err != nil {
		return err
	}
	b, ok, err := g.records.blob(ctx, d)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(http.StatusNotFound, codeManifestUnknown, "manifest %s has no content record", d)
	}
	h := w.Header()
	h.Set("Content-Type", rec.MediaType)
	h.Set("Content-Length", strconv.FormatInt(rec.Size, 10))
	h.Set("Docker-Content-Digest", string(d))
	h.Set("Etag", `"`+string(d)+`"`)
	h.Set("X-Ipfs-Cid", b.Cid)
	h.Set("X-Ipfs-Root", rec.Root)
	if r.Method == http.MethodHead {
		return nil
	}
	body, ok := g.manifests.get(d)
	if !ok {
		if body, err = g.readSmall(ctx, b); err != nil {
			h.Del("Content-Length")
			return err
		}
		g.manifests.put(d, body)
	}
	_, err = w.Write(body)
	return err
}

// putManifest serves PUT /v2/<name>/manifests/<reference>: the manifest
// is checked (digest, media type, every blob and child manifest it needs
// in the repository), stored as content, pinned with its parts and only
// then named: a manifest is visible once its minimum number of peers hold
// it.
func (g *Registry) putManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	var want digest
	var tags []string
	if strings.Contains(rt.ref, ":") {
		d, ok := parseDigest(rt.ref)
		if !ok {
			return errorf(http.StatusBadRequest, codeDigestInvalid, "invalid digest %q", rt.ref)
		}
		want = d
	} else {
		tags = append(tags, rt.ref)
	}
	// Tags given as parameters with a push by digest (spec 1.1+).
	tags = append(tags, r.URL.Query()["tag"]...)
	for _, t := range tags {
		if !validTag(t) {
			return errorf(http.StatusBadRequest, codeManifestInvalid, "invalid tag %q", t).with(map[string]string{"tag": t})
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxManifestSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(http.StatusRequestEntityTooLarge, codeManifestInvalid, "manifest over %d bytes", maxManifestSize)
		}
		return errorf(http.StatusBadRequest, codeSizeInvalid, "manifest upload cut short: %v", err)
	}
	alg := "sha256"
	if want != "" {
		alg = want.algorithm()
	}
	d := digestOf(alg, body)
	if want != "" && d != want {
		return errorf(http.StatusBadRequest, codeDigestInvalid, "the manifest's digest is %s, not %s", d, want).with(map[string]string{"digest": string(want)})
	}
	m, err := parseManifest(body, r.Header.Get("Content-Type"))
	if err != nil {
		return errorf(http.StatusBadRequest, codeManifestInvalid, "%v", err)
	}
	parts, err := g.manifestParts(ctx, rt.repo, m)
	if err != nil {
		return err
	}

	content, err := g.importContent(ctx, bytes.NewReader(body), uploadGrace)
	if err != nil {
		return err
	}
	if err := g.records.put(ctx, blobKey(d), content); err != nil {
		return err
	}
	var prev manifestRecord
	existed, err := g.records.get(ctx, manifestKey(rt.repo, d), &prev)
	if err != nil {
		return err
	}
	root, err := g.pinNew(ctx, rt.repo, d, content, parts, tags, existed)
	if err != nil {
		return err
	}

	rec := manifestRecord{
		MediaType: m.mediaType, Size: int64(len(body)), ArtifactType: m.artifactType,
		Root: root.String(), ByDigest: want != "" || prev.ByDigest,
	}
	for p := range parts {
		rec.Parts = append(rec.Parts, string(p))
	}
	slices.Sort(rec.Parts)
	if m.subject != nil {
		rec.Subject = m.subject.Digest
	}
	if err := g.records.put(ctx, manifestKey(rt.repo, d), rec); err != nil {
		return err
	}
	if err := g.addRepo(ctx, rt.repo); err != nil {
		return err
	}
	if m.subject != nil {
		ref := referrerRecord{descriptor: descriptor{MediaType: m.mediaType, Digest: string(d), Size: int64(len(body)), ArtifactType: m.artifactType, Annotations: m.annotations}}
		if raw, _ := json.Marshal(ref); len(raw) > maxReferrerRecord {
			// Too large for a record: the list reads them from the
			// manifest when it answers.
			ref.Annotations, ref.AnnotationsInManifest = nil, true
		}
		if err := g.records.put(ctx, referrerKey(rt.repo, digest(m.subject.Digest), d), ref); err != nil {
			return err
		}
	}
	for _, t := range tags {
		var old tagRecord
		moved, err := g.records.get(ctx, tagKey(rt.repo, t), &old)
		if err != nil {
			return err
		}
		if err := g.records.put(ctx, tagKey(rt.repo, t), tagRecord{Digest: string(d)}); err != nil {
			return err
		}
		if moved && digest(old.Digest) != d {
			// The tag left another manifest, which may now be
			// unreferenced.
			if err := g.untagged(ctx, rt.repo, digest(old.Digest)); err != nil {
				return err
			}
		}
	}
	g.log.Debug("manifest stored", "repo", rt.repo, "digest", d, "tags", tags, "root", root)

	h := w.Header()
	h.Set("Location", "/v2/"+rt.repo+"/manifests/"+string(d))
	h.Set("Docker-Content-Digest", string(d))
	h.Set("X-Ipfs-Cid", content.Cid)
	h.Set("X-Ipfs-Root", root.String())
	if m.subject != nil {
		h.Set("OCI-Subject", m.subject.Digest)
	}
	if want != "" && len(tags) > 0 {
		h.Set("OCI-Tag", strings.Join(tags, ","))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// maxReferrerRecord keeps referrer records well under the record limit.
const maxReferrerRecord = 16 << 10

// manifestParts checks that every blob and child manifest m needs is in
// the repository, and returns them with, for an index, its children's own
// parts: everything the manifest's pin must hold.
func (g *Registry) manifestParts(ctx context.Context, repo string, m manifest) (map[digest]blobRecord, error) {
	parts := map[digest]blobRecord{}
	for _, desc := range m.blobs {
		d := digest(desc.Digest)
		b, err := g.repoBlob(ctx, repo, d)
		var e *apiError
		if errors.As(err, &e) && e.code == codeBlobUnknown {
			return nil, errorf(http.StatusBadRequest, codeManifestBlobUnknown, "blob %s is not in %s: push it first", d, repo).with(map[string]string{"digest": string(d)})
		}
		if err != nil {
			return nil, err
		}
		if b.Size != desc.Size {
			return nil, errorf(http.StatusBadRequest, codeManifestInvalid, "blob %s has %d bytes, the manifest says %d", d, b.Size, desc.Size)
		}
		parts[d] = b
	}
	for _, desc := range m.children {
		d := digest(desc.Digest)
		child, err := g.manifestRecord(ctx, repo, d)
		var e *apiError
		if errors.As(err, &e) && e.code == codeManifestUnknown {
			return nil, errorf(http.StatusBadRequest, codeManifestBlobUnknown, "manifest %s is not in %s: push it first", d, repo).with(map[string]string{"digest": string(d)})
		}
		if err != nil {
			return nil, err
		}
		if child.Size != desc.Size {
			return nil, errorf(http.StatusBadRequest, codeManifestInvalid, "manifest %s has %d bytes, the index says %d", d, child.Size, desc.Size)
		}
		for _, p := range append([]string{string(d)}, child.Parts...) {
			b, ok, err := g.records.blob(ctx, digest(p))
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, errorf(http.StatusBadRequest, codeManifestBlobUnknown, "%s, a part of %s, is unknown", p, d)
			}
			parts[digest(p)] = b
		}
	}
	return parts, nil
}

// pinNew writes a manifest's directory and pins it, named after its first
// tag (or its digest), waiting for its replicas. A manifest pushed again
// by digest keeps its pin as it is.
func (g *Registry) pinNew(ctx context.Context, repo string, d digest, content blobRecord, parts map[digest]blobRecord, tags []string, existed bool) (cid.Cid, error) {
	// The pin lock covers the directory from its write to its pin's
	// commit, so that no collection takes it in between. It is let go
	// before the wait: this peer's tracker takes it to pin, and a
	// collection queued behind a held lock would hold the tracker back.
	unlock := g.deps.Node.PinLock(ctx)
	root, whole, err := g.writeImageRoot(ctx, repo, content, parts)
	if err != nil {
		unlock()
		return cid.Undef, err
	}
	if existed && len(tags) == 0 {
		unlock() // keep the pin and its name (a tag's, perhaps)
		return root, nil
	}
	name := repo + "@" + string(d)
	if len(tags) > 0 {
		name = repo + ":" + tags[0]
	}
	want := g.imagePin(root, name, repo, d)
	if whole {
		// One client pushed the whole image here: send it to the other
		// allocations now. Otherwise they fetch over bitswap, from
		// whichever peers took the uploads.
		if want.Allocations, err = g.sendImage(ctx, want); err != nil {
			unlock()
			return cid.Undef, err
		}
	}
	p, err := g.deps.Cluster.Pin(ctx, want)
	unlock()
	if err != nil {
		return cid.Undef, err
	}
	return root, g.waitReplicas(ctx, p, name)
}

// deleteManifest serves DELETE /v2/<name>/manifests/<reference>: by
// digest, the manifest and every tag naming it; by tag, the tag, and the
// manifest with it when nothing else keeps it (see untagged).
func (g *Registry) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	d, tag, err := g.resolveRef(ctx, rt.repo, rt.ref)
	if err != nil {
		return err
	}
	if tag != "" {
		if err := g.records.del(ctx, tagKey(rt.repo, tag)); err != nil {
			return err
		}
		if err := g.untagged(ctx, rt.repo, d); err != nil {
			return err
		}
	} else {
		rec, err := g.manifestRecord(ctx, rt.repo, d)
		if err != nil {
			return err
		}
		if err := g.removeManifest(ctx, rt.repo, d, rec); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// tagsOf lists the repository's tags that name d.
func (g *Registry) tagsOf(ctx context.Context, repo string, d digest) ([]string, error) {
	var tags []string
	err := g.records.scan(ctx, tagPrefix(repo), "", func(tag string, raw []byte) bool {
		var t tagRecord
		if json.Unmarshal(raw, &t) == nil && digest(t.Digest) == d {
			tags = append(tags, tag)
		}
		return true
	})
	return tags, err
}

// untagged follows a tag leaving manifest d: a manifest pushed only by tag
// goes with its last tag (its pin with it: deleting an image unpins what
// nothing else references); one pushed by digest stays, as the spec wants,
// its pin renamed after a remaining tag or its digest.
func (g *Registry) untagged(ctx context.Context, repo string, d digest) error {
	var rec manifestRecord
	ok, err := g.records.get(ctx, manifestKey(repo, d), &rec)
	if err != nil || !ok {
		return err
	}
	tags, err := g.tagsOf(ctx, repo, d)
	if err != nil {
		return err
	}
	if len(tags) == 0 && !rec.ByDigest {
		return g.removeManifest(ctx, repo, d, rec)
	}
	name := repo + "@" + string(d)
	if len(tags) > 0 {
		name = repo + ":" + tags[0]
	}
	return g.renameImage(ctx, rec, name, repo, d)
}

// removeManifest deletes a manifest from a repository: its tags, its
// referrer entry, its record, and its pin.
func (g *Registry) removeManifest(ctx context.Context, repo string, d digest, rec manifestRecord) error {
	tags, err := g.tagsOf(ctx, repo, d)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if err := g.records.del(ctx, tagKey(repo, t)); err != nil {
			return err
		}
	}
	if rec.Subject != "" {
		if err := g.records.del(ctx, referrerKey(repo, digest(rec.Subject), d)); err != nil {
			return err
		}
	}
	if err := g.records.del(ctx, manifestKey(repo, d)); err != nil {
		return err
	}
	return g.unpinImage(ctx, rec)
}
