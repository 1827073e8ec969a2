package restapi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	cid "github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/flotilla-ipfs/flotilla/internal/importer"
	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// metaPrefix marks the query parameters that become pin metadata.
const metaPrefix = "meta-"

// parsePinOptions reads IPFS Cluster's pin options from a query, as
// PinOptions.FromQuery of IPFS Cluster 1.1.6 does, but stricter: an
// unknown mode, a malformed peer ID in user-allocations or a malformed
// number is an error instead of being dropped or defaulted. The returned
// pin has no CID; the caller validates it with pin.Validate. A replication
// bound not given (or 0) stays 0: the cluster's leader completes it from
// its defaults (pin.WithDefaults), for each bound on its own as in IPFS
// Cluster.
func parsePinOptions(q url.Values, now time.Time) (pin.Pin, error) {
	p := pin.Pin{Name: q.Get("name")}
	switch m := q.Get("mode"); m {
	case "", "recursive":
		p.Mode = pin.Recursive
	case "direct":
		p.Mode = pin.Direct
	default:
		return pin.Pin{}, fmt.Errorf("unknown mode %q (want recursive or direct)", m)
	}

	minS, maxS := q.Get("replication-min"), q.Get("replication-max")
	if r := q.Get("replication"); r != "" {
		minS, maxS = r, r
	}
	var err error
	if p.ReplicationMin, err = intParam("replication-min", minS); err != nil {
		return pin.Pin{}, err
	}
	if p.ReplicationMax, err = intParam("replication-max", maxS); err != nil {
		return pin.Pin{}, err
	}

	if v := q.Get("shard-size"); v != "" {
		// Sharding is an /add option; pins ignore it, as IPFS Cluster does.
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			return pin.Pin{}, fmt.Errorf("parameter shard-size %q is invalid", v)
		}
	}

	if v := q.Get("user-allocations"); v != "" {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			id, err := peer.Decode(s)
			if err != nil {
				return pin.Pin{}, fmt.Errorf("user-allocations: bad peer ID %q: %v", s, err)
			}
			p.UserAllocations = append(p.UserAllocations, id.String())
		}
	}

	if v := q.Get("expire-at"); v != "" {
		if err := p.ExpireAt.UnmarshalText([]byte(v)); err != nil {
			return pin.Pin{}, fmt.Errorf("expire-at cannot be parsed: %v", err)
		}
	} else if v := q.Get("expire-in"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return pin.Pin{}, fmt.Errorf("expire-in cannot be parsed: %v", err)
		}
		if d < time.Second {
			return pin.Pin{}, fmt.Errorf("expire-in duration %s too short", v)
		}
		p.ExpireAt = now.Add(d)
	}

	for k := range q {
		if key, ok := strings.CutPrefix(k, metaPrefix); ok && key != "" {
			if p.Metadata == nil {
				p.Metadata = map[string]string{}
			}
			p.Metadata[key] = q.Get(k)
		}
	}

	if v := q.Get("pin-update"); v != "" {
		c, err := cid.Decode(v)
		if err != nil {
			return pin.Pin{}, fmt.Errorf("error decoding update option parameter: %v", err)
		}
		p.PinUpdate = c
	}

	if v := q.Get("origins"); v != "" {
		for _, s := range strings.Split(v, ",") {
			m, err := ma.NewMultiaddr(s)
			if err != nil {
				return pin.Pin{}, fmt.Errorf("error decoding multiaddress %q: %v", s, err)
			}
			if _, err := m.ValueForProtocol(ma.P_P2P); err != nil {
				return pin.Pin{}, fmt.Errorf("multiaddress %q does not contain peer ID", s)
			}
			p.Origins = append(p.Origins, m.String())
		}
	}
	return p, nil
}

func intParam(name, v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < pin.Everywhere {
		return 0, fmt.Errorf("parameter %s %q is invalid", name, v)
	}
	return n, nil
}

// addParams are the options of POST /add: IPFS Cluster 1.1.6's AddParams
// (api/add.go), parsed as AddParamsFromQuery does but stricter, like the
// pin options: a malformed value or an option flotilla cannot honour is an
// error, before a byte of the upload is read.
type addParams struct {
	AddRequest
	progress bool // report the bytes read of each file
	stream   bool // stream-channels: NDJSON as it goes, else one array at the end
}

// probeCid stands for the content when the pin options of an add are
// validated before the import (the empty UnixFS directory).
var probeCid = cid.MustParse("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")

func parseAddOptions(q url.Values, now time.Time) (addParams, error) {
	a := addParams{stream: true}
	p, err := parsePinOptions(q, now)
	if err != nil {
		return a, err
	}
	// As IPFS Cluster's adder: the content is pinned whole, and an add
	// is no update of another pin.
	if p.Mode == pin.Direct {
		return a, fmt.Errorf("mode direct is not supported by /add: added content is pinned recursively")
	}
	p.PinUpdate = cid.Undef
	probe := p
	probe.Cid = probeCid
	if err := probe.Validate(now); err != nil {
		return a, err
	}
	a.Pin = p

	var recursive, hidden, shard, nocopy, wrap, trickle bool
	for _, f := range []struct {
		name string
		dst  *bool
	}{
		{"local", &a.Local}, {"no-pin", &a.NoPin}, {"progress", &a.progress}, {"stream-channels", &a.stream},
		{"recursive", &recursive}, {"hidden", &hidden}, {"shard", &shard}, {"nocopy", &nocopy},
		{"wrap-with-directory", &wrap}, {"trickle", &trickle},
	} {
		if err := boolParam(q, f.name, f.dst); err != nil {
			return a, err
		}
	}
	// recursive and hidden decide what the client uploads; the server
	// has nothing to do with them (IPFS Cluster neither).
	if shard {
		return a, fmt.Errorf("shard=true is not supported: flotilla does no sharding, it replicates whole DAGs")
	}
	if nocopy {
		return a, fmt.Errorf("nocopy=true is not supported: flotilla has no filestore")
	}

	switch f := q.Get("format"); f {
	case "", "unixfs":
	case "car":
		a.CAR = true
		if wrap {
			return a, fmt.Errorf("cannot wrap a CAR file upload")
		}
	default:
		return a, fmt.Errorf("format parameter %q is invalid (want unixfs or car)", f)
	}

	params := importer.Params{Chunker: q.Get("chunker"), Hash: q.Get("hash"), Wrap: wrap}
	switch l := q.Get("layout"); l {
	case "", "balanced":
		if l == "balanced" && trickle {
			return a, fmt.Errorf("layout=balanced contradicts trickle=true")
		}
	case "trickle":
		trickle = true
	default:
		return a, fmt.Errorf("layout parameter %q is invalid (want balanced or trickle)", l)
	}
	params.Trickle = &trickle
	if v := q.Get("cid-version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return a, fmt.Errorf("parameter cid-version %q is invalid", v)
		}
		params.CidVersion = &n
	}
	if v := q.Get("raw-leaves"); v != "" {
		var raw bool
		if err := boolParam(q, "raw-leaves", &raw); err != nil {
			return a, err
		}
		params.RawLeaves = &raw
	}
	// Kubo's rules and defaults, hence Kubo's CIDs: a CID version above 0
	// implies raw leaves unless raw-leaves is given, as in IPFS Cluster.
	if a.Import, err = params.Resolve(); err != nil {
		return a, err
	}
	return a, nil
}

// boolParam reads a boolean parameter when it is given.
func boolParam(q url.Values, name string, dst *bool) error {
	v := q.Get(name)
	if v == "" {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("parameter %s %q is invalid (want true or false)", name, v)
	}
	*dst = b
	return nil
}
