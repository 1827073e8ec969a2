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

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// metaPrefix marks the query parameters that become pin metadata.
const metaPrefix = "meta-"

// Replication is the cluster's default replication, used to complete a
// request that gives only one of replication-min and replication-max.
type Replication struct{ Min, Max int }

// parsePinOptions reads IPFS Cluster's pin options from a query, as
// PinOptions.FromQuery of IPFS Cluster 1.1.6 does, but stricter: an
// unknown mode, a malformed peer ID in user-allocations or a malformed
// number is an error instead of being dropped or defaulted. The returned
// pin has no CID; the caller validates it with pin.Validate.
func parsePinOptions(q url.Values, def Replication, now time.Time) (pin.Pin, error) {
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
	// 0 means "the cluster's default", for each bound on its own as in
	// IPFS Cluster; the domain wants both or neither.
	switch {
	case p.ReplicationMin == 0 && p.ReplicationMax != 0:
		p.ReplicationMin = def.Min
		if p.ReplicationMax != pin.Everywhere && (def.Min == pin.Everywhere || def.Min > p.ReplicationMax) {
			p.ReplicationMin = p.ReplicationMax
		}
		if p.ReplicationMax == pin.Everywhere {
			p.ReplicationMin = pin.Everywhere
		}
	case p.ReplicationMax == 0 && p.ReplicationMin != 0:
		p.ReplicationMax = def.Max
		if p.ReplicationMin == pin.Everywhere {
			p.ReplicationMax = pin.Everywhere
		} else if def.Max == pin.Everywhere || def.Max < p.ReplicationMin {
			p.ReplicationMax = p.ReplicationMin
		}
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
