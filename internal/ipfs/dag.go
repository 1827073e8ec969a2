package ipfs

import (
	"bytes"
	"context"
	"fmt"
	"github.com/flotilla-ipfs/flotilla/internal/block"
	"io"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/merkledag/traverse"
	"github.com/ipfs/boxo/path"
	blocks "github.com/ipfs/go-block-format"
	cid "github.com/ipfs/go-cid"
	format "github.com/ipfs/go-ipld-format"
	_ "github.com/ipld/go-codec-dagpb" // registers dag-pb with the codec table
	"github.com/ipld/go-ipld-prime"
	_ "github.com/ipld/go-ipld-prime/codec/cbor" // the codecs Kubo's dag commands offer
	_ "github.com/ipld/go-ipld-prime/codec/dagcbor"
	_ "github.com/ipld/go-ipld-prime/codec/dagjson"
	_ "github.com/ipld/go-ipld-prime/codec/json"
	_ "github.com/ipld/go-ipld-prime/codec/raw"
	"github.com/ipld/go-ipld-prime/multicodec"
	basicnode "github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/ipld/go-ipld-prime/traversal"
	mc "github.com/multiformats/go-multicodec"
)

// codec parses a multicodec name and finds its encoder and decoder.
func codec(name string) (mc.Code, error) {
	var c mc.Code
	if err := c.Set(name); err != nil {
		return 0, fmt.Errorf("%w: unknown codec %q", ErrBadPath, name)
	}
	return c, nil
}

// DagGet writes the IPLD node at p to w in the output codec (dag-json,
// dag-cbor, json, …), following the path into the node's fields as Kubo's
// `dag get` does.
func (n *Node) DagGet(ctx context.Context, p path.ImmutablePath, outputCodec string, w io.Writer) error {
	out, err := codec(outputCodec)
	if err != nil {
		return err
	}
	encode, err := multicodec.LookupEncoder(uint64(out))
	if err != nil {
		return fmt.Errorf("%w: cannot encode as %s: %v", ErrBadPath, out, err)
	}
	c, rest, err := n.ResolveToLastNode(ctx, p)
	if err != nil {
		return err
	}
	nd, err := n.decodeBlock(ctx, c)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		nd, err = traversal.Get(nd, ipld.ParsePath(path.SegmentsToString(rest...)))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		}
	}
	var buf bytes.Buffer // encode fully before writing: no half-written node on error
	if err := safeEncode(encode, nd, &buf); err != nil {
		return fmt.Errorf("%w: cannot encode %s as %s: %v", ErrBadPath, c, out, err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// safeEncode runs a codec, turning a panic in it (codecs are third-party
// code, run on data from the network) into an error.
func safeEncode(encode ipld.Encoder, nd ipld.Node, w io.Writer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("codec panicked: %v", r)
		}
	}()
	return encode(nd, w)
}

// decodeBlock fetches a block and decodes it with the codec its CID names.
func (n *Node) decodeBlock(ctx context.Context, c cid.Cid) (ipld.Node, error) {
	b, err := n.BlockGet(ctx, c)
	if err != nil {
		return nil, err
	}
	decode, err := multicodec.LookupDecoder(c.Prefix().Codec)
	if err != nil {
		return nil, fmt.Errorf("%w: no decoder for codec %s of %s", ErrBadPath, mc.Code(c.Prefix().Codec), c)
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := decode(nb, bytes.NewReader(b.RawData())); err != nil {
		return nil, fmt.Errorf("decode %s: %w", c, err)
	}
	return nb.Build(), nil
}

// DagPutOptions say how `dag put` reads and stores a node. Empty fields
// take Kubo's defaults: dag-json in, dag-cbor stored, sha2-256.
type DagPutOptions struct {
	InputCodec string
	StoreCodec string
	Hash       string
	Pin        bool
	AllowBig   bool
}

// DagPut decodes data in the input codec, re-encodes it in the store codec
// and stores it as a CIDv1 block, as Kubo's `dag put` does.
func (n *Node) DagPut(ctx context.Context, data io.Reader, o DagPutOptions) (cid.Cid, error) {
	if o.InputCodec == "" {
		o.InputCodec = "dag-json"
	}
	if o.StoreCodec == "" {
		o.StoreCodec = "dag-cbor"
	}
	if o.Hash == "" {
		o.Hash = "sha2-256"
	}
	in, err := codec(o.InputCodec)
	if err != nil {
		return cid.Undef, err
	}
	store, err := codec(o.StoreCodec)
	if err != nil {
		return cid.Undef, err
	}
	hash, err := codec(o.Hash)
	if err != nil {
		return cid.Undef, err
	}
	decode, err := multicodec.LookupDecoder(uint64(in))
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: cannot decode %s: %v", ErrBadPath, in, err)
	}
	encode, err := multicodec.LookupEncoder(uint64(store))
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: cannot encode %s: %v", ErrBadPath, store, err)
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := decode(nb, io.LimitReader(data, 4*block.MaxSize)); err != nil {
		return cid.Undef, fmt.Errorf("%w: input is not valid %s: %v", ErrBadPath, in, err)
	}
	var buf bytes.Buffer
	if err := safeEncode(encode, nb.Build(), &buf); err != nil {
		return cid.Undef, fmt.Errorf("%w: cannot store as %s: %v", ErrBadPath, store, err)
	}
	if buf.Len() > block.MaxSize && !o.AllowBig {
		return cid.Undef, block.ErrTooBig
	}
	c, err := cid.Prefix{Version: 1, Codec: uint64(store), MhType: uint64(hash), MhLength: -1}.Sum(buf.Bytes())
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %v", ErrBadPath, err)
	}
	b, err := blocks.NewBlockWithCid(buf.Bytes(), c)
	if err != nil {
		return cid.Undef, err
	}
	return c, n.putBlock(ctx, b, o.Pin)
}

// putBlock stores one block durably and, with pin, pins it recursively
// (its links need not be present, as with Kubo's `dag put --pin`).
func (n *Node) putBlock(ctx context.Context, b blocks.Block, pin bool) error {
	unlock := n.Blocks.PinLock(ctx)
	defer unlock.Unlock(ctx)
	if err := n.Blocks.Put(ctx, b); err != nil {
		return err
	}
	if err := n.blocksDS.Sync(ctx, rootKey); err != nil {
		return err
	}
	if !pin {
		return nil
	}
	if err := n.Pins.PinWithMode(ctx, b.Cid(), pinModeRecursive, ""); err != nil {
		return err
	}
	if err := n.syncPins(ctx); err != nil {
		return err
	}
	n.announce(ctx, b.Cid())
	return nil
}

// DagStat walks the DAG under root depth first, each block once, and calls
// visit with each block's CID and size.
func (n *Node) DagStat(ctx context.Context, root cid.Cid, visit func(c cid.Cid, size int) error) error {
	return walk(ctx, n.DAG, root, func(nd format.Node) error { return visit(nd.Cid(), len(nd.RawData())) })
}

// walk visits the DAG under root depth first, each block once, in one
// session of dag.
func walk(ctx context.Context, dag format.DAGService, root cid.Cid, visit func(format.Node) error) error {
	ng := merkledag.NewSession(ctx, dag)
	nd, err := ng.Get(ctx, root)
	if err != nil {
		return notFound(err)
	}
	err = traverse.Traverse(nd, traverse.Options{
		DAG:            ng,
		Order:          traverse.DFSPre,
		SkipDuplicates: true,
		Func:           func(s traverse.State) error { return visit(s.Node) },
	})
	if err != nil {
		return fmt.Errorf("error traversing DAG: %w", notFound(err))
	}
	return nil
}
