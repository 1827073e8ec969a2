package kuborpc

import (
	"context"
	"net/url"

	"github.com/ipfs/boxo/files"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
)

// addRequest is an add's options, read from Kubo's query parameters.
type addRequest struct {
	opts     ipfs.AddOptions
	progress bool
}

func parseAdd(q url.Values) (addRequest, error) {
	req := &request{query: q}
	var a addRequest
	params, err := importParams(req)
	if err != nil {
		return a, err
	}
	settings, err := params.Resolve()
	if err != nil {
		return a, err
	}
	a.opts = ipfs.AddOptions{Import: settings, PinName: req.str("pin-name")}
	if a.opts.Pin, err = req.boolOpt("pin", true); err != nil {
		return a, err
	}
	if a.opts.OnlyHash, err = req.boolOpt("only-hash", false); err != nil {
		return a, err
	}
	if a.progress, err = req.boolOpt("progress", false); err != nil {
		return a, err
	}
	if a.opts.PinName != "" && !a.opts.Pin {
		return a, badRequest("pin-name option requires pin to be set")
	}
	return a, nil
}

// runAdd imports dir into node and reports Kubo's add events.
func runAdd(ctx context.Context, node *ipfs.Node, dir files.Directory, a addRequest, emit func(AddEvent)) ([]importer.Root, error) {
	return node.Add(ctx, dir, a.opts, func(e importer.Event) {
		switch {
		case e.Cid.Defined():
			emit(AddEvent{Name: e.Name, Hash: e.Cid.String(), Size: importer.FormatSize(e.Size)})
		case a.progress:
			emit(AddEvent{Name: e.Name, Bytes: e.Bytes})
		}
	})
}

// Add runs Kubo's add on a node held in this process: options as Kubo's
// query parameters, events as Kubo's add stream, exactly what the add
// command serves over HTTP. The CLI calls it when it works on a data
// directory itself, so that a large import does not pay for a multipart
// round trip through a socket (about 2 CPU seconds per GiB).
func Add(ctx context.Context, node *ipfs.Node, dir files.Directory, options url.Values, emit func(AddEvent)) error {
	a, err := parseAdd(options)
	if err != nil {
		return err
	}
	_, err = runAdd(ctx, node, dir, a, emit)
	return err
}
