package restapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/ipfs/boxo/files"
	cid "github.com/ipfs/go-cid"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// ErrBadUpload marks an upload that cannot be added: a malformed or
// truncated multipart body, or content the add refuses (a CAR that is not
// one valid CAR with one root). The API answers 400; an Adder wraps it.
var ErrBadUpload = errors.New("malformed upload")

// AddRequest is what an add asks for.
type AddRequest struct {
	// Pin holds the options every root of the upload is pinned with; its
	// Cid is undefined, its Mode recursive.
	Pin pin.Pin
	// Import is how files become DAGs: Kubo's settings, so Kubo's CIDs.
	Import importer.Settings
	// CAR says the upload is one CAR file with one root, whose blocks are
	// added as they are instead of files being imported.
	CAR bool
	// Local stores the blocks on this peer only, made one of the
	// allocations unless the user chose them; the other allocations fetch
	// the blocks once pinned.
	Local bool
	// NoPin sends the blocks to the allocations without pinning them.
	NoPin bool
}

// Added is one output of an add: an entry imported (Cid set, Size its
// cumulative DAG size), or, with Cid undefined, the bytes of a file read
// so far. A CAR's root has Bytes, the CAR's block bytes, and Size, the
// root's UnixFS file size when it has one.
type Added struct {
	Name        string
	Cid         cid.Cid
	Size        uint64
	Bytes       uint64
	Allocations []string
}

// Adder adds uploads to the cluster. It is optional in Deps: without it
// POST /add answers 501.
type Adder interface {
	// Add builds the DAGs of the upload (for req.CAR, reads the CAR in
	// it), sends their blocks to the peers allocated for req.Pin while it
	// reads, and pins every root with those allocations once they hold
	// every block (unless req.NoPin). It calls emit on its own goroutine
	// for every entry and progress report, as they happen; an error from
	// emit stops the add. Failures to read the upload come as
	// ErrBadUpload already (the API wraps it); content the add refuses
	// must be one too.
	Add(ctx context.Context, upload files.Directory, req AddRequest, emit func(Added) error) error
}

// POST /add?options: the multipart upload is imported on this peer, its
// blocks streamed to the allocated peers as they are built, and every root
// pinned with those allocations once they hold all of it. The outputs are
// streamed as NDJSON (stream-channels=false: one JSON array at the end).
// Unlike IPFS Cluster, which answers 200 before it reads anything, the
// status waits for the first output, so a bad upload is a 400.
func (s *server) add(w http.ResponseWriter, r *http.Request) error {
	if s.Adder == nil {
		return s.notYet(w, r)
	}
	opts, err := parseAddOptions(r.URL.Query(), s.now())
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	mr, err := multipartReader(r)
	if err != nil {
		return err
	}
	dir, err := files.NewFileFromPartReader(mr, "multipart/form-data")
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	upload := &uploadDir{Directory: dir, top: true}
	// Outputs go out while the upload is still being read.
	http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("Cache-Control", "no-cache")
	add := func(emit func(Added) error) error {
		err := s.Adder.Add(r.Context(), upload, opts.AddRequest, func(a Added) error {
			if !a.Cid.Defined() && !opts.progress {
				return nil
			}
			return emit(a)
		})
		if upload.empty() {
			return fmt.Errorf("%w: the upload has no file", ErrBadUpload)
		}
		return err
	}
	if !opts.stream {
		out := []wireAdded{}
		if err := add(func(a Added) error { out = append(out, addedToWire(a)); return nil }); err != nil {
			return err
		}
		return reply(w, out)
	}
	w.Header().Set("X-Chunked-Output", "1")
	st := newStreamer(w)
	st.end(s, add(func(a Added) error { return st.send(addedToWire(a)) }))
	return nil
}

// uploadBuffer is what the multipart reader reads the body by. Its own
// buffer is 4 KiB, as is the server's: a syscall per 4 KiB of upload, a
// quarter of a million per GiB. Reading through a larger buffer lets one
// read take what the socket holds.
const uploadBuffer = 1 << 20

// multipartReader is http.Request.MultipartReader (form-data or mixed,
// with a boundary) over a large read buffer.
func multipartReader(r *http.Request) (*multipart.Reader, error) {
	mediatype, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mediatype != "multipart/form-data" && mediatype != "multipart/mixed") {
		return nil, errorf(http.StatusBadRequest, "request body must be multipart/form-data (got Content-Type %q)", r.Header.Get("Content-Type"))
	}
	if params["boundary"] == "" {
		return nil, errorf(http.StatusBadRequest, "request body must be multipart/form-data: no boundary in Content-Type %q", r.Header.Get("Content-Type"))
	}
	return multipart.NewReader(bufio.NewReaderSize(r.Body, uploadBuffer), params["boundary"]), nil
}

// uploadDir, uploadIter and uploadFile wrap the multipart upload so that
// every failure to read it is an ErrBadUpload, whoever meets it. They also
// keep a truncated part from passing for a short file: a chunker takes
// io.ErrUnexpectedEOF for the end of its input, and wrapped it is not.
type uploadDir struct {
	files.Directory
	top  bool
	it   *uploadIter // the top level's iterator, once asked for
	done bool        // the top level's entries were all read
}

func (d *uploadDir) Entries() files.DirIterator {
	it := &uploadIter{DirIterator: d.Directory.Entries()}
	if d.top {
		d.it = it
		it.dir = d
	}
	return it
}

// empty reports whether the whole top level was read and held no entry.
func (d *uploadDir) empty() bool {
	return d.it != nil && d.it.dir.done && d.it.seen == 0
}

type uploadIter struct {
	files.DirIterator
	dir  *uploadDir // set at the top level only
	seen int
}

func (it *uploadIter) Next() bool {
	if it.DirIterator.Next() {
		it.seen++
		return true
	}
	if it.dir != nil && it.DirIterator.Err() == nil {
		it.dir.done = true
	}
	return false
}

func (it *uploadIter) Node() files.Node { return wrapUpload(it.DirIterator.Node()) }

func (it *uploadIter) Err() error { return badUpload(it.DirIterator.Err()) }

func wrapUpload(n files.Node) files.Node {
	switch n := n.(type) {
	case *files.Symlink:
		return n // read whole by the multipart reader
	case files.Directory:
		return &uploadDir{Directory: n}
	case files.File:
		return uploadFile{n}
	}
	return n
}

type uploadFile struct{ files.File }

func (f uploadFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	if err != nil && err != io.EOF {
		err = badUpload(err)
	}
	return n, err
}

func badUpload(err error) error {
	if err == nil || errors.Is(err, ErrBadUpload) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrBadUpload, err)
}
