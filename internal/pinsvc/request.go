package pinsvc

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	cid "github.com/ipfs/go-cid"
	ma "github.com/multiformats/go-multiaddr"
)

// request is a pin request: an owner wants a CID pinned. Several requests
// may name the same CID; they share its cluster pin.
type request struct {
	ID      string // see newID
	Owner   string // who made it ("" when authentication is off)
	Cid     cid.Cid
	Name    string
	Origins []string // multiaddrs with /p2p/, dialled to fetch the content
	Meta    map[string]string
	Created time.Time // from the ID
}

// Limits of a Pin object: the spec's, and the size of a record.
const (
	maxOrigins = 20
	maxMeta    = 1000
	maxRecord  = 64 << 10 // key and value; what Records holds
	maxBody    = 1 << 20
)

// A request ID is its creation time in Unix nanoseconds (13 base-32
// digits, 0-9a-v, which sort as the numbers do) followed by 10 random
// base-32 digits. IDs sort as their requests were created, so an owner's
// records are stored in creation order and every listing is a range scan.
const (
	idTimeLen = 13
	idRandLen = 10
	idLen     = idTimeLen + idRandLen
)

func newID(created int64) string {
	return digits(uint64(created), idTimeLen) + digits(rand.Uint64()>>14, idRandLen)
}

func digits(n uint64, width int) string {
	s := strconv.FormatUint(n, 32)
	return strings.Repeat("0", width-len(s)) + s
}

// idTime returns the creation time in an ID, or false for a malformed ID.
func idTime(id string) (time.Time, bool) {
	if len(id) != idLen || strings.IndexFunc(id, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'v') }) >= 0 {
		return time.Time{}, false
	}
	ns, err := strconv.ParseUint(id[:idTimeLen], 32, 64)
	if err != nil || ns > math.MaxInt64 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(ns)).UTC(), true
}

// clock hands out creation times that strictly increase within the
// process; ties between peers are broken when the record is written (see
// server.create).
type clock struct {
	mu   sync.Mutex
	last int64 // guarded by mu
	now  func() time.Time
}

func (c *clock) next() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now().UnixNano()
	if t <= c.last {
		t = c.last + 1
	}
	c.last = t
	return t
}

// Record keys. Owners are hex-encoded, so that no owner's prefix is
// another's.
//
//	psa/req/u<owner>/<id>        a request (storedRequest)
//	psa/cid/<cid>/u<owner>/<id>  the request refers to the CID (storedRef)
//	psa/own/<cid>                the service created the CID's cluster pin,
//	                             and unpins it when no request refers to it
const (
	prefixReq = "psa/req/"
	prefixRef = "psa/cid/"
	prefixOwn = "psa/own/"
)

func ownerKey(owner string) string { return "u" + hex.EncodeToString([]byte(owner)) }

func reqPrefix(owner string) string { return prefixReq + ownerKey(owner) + "/" }

func reqKey(owner, id string) string { return reqPrefix(owner) + id }

func refPrefix(c cid.Cid) string { return prefixRef + c.String() + "/" }

func refKey(r request) string { return refPrefix(r.Cid) + ownerKey(r.Owner) + "/" + r.ID }

func ownKey(c cid.Cid) string { return prefixOwn + c.String() }

func encodeRequest(r request) []byte {
	b, _ := json.Marshal(storedRequest{Owner: r.Owner, Cid: r.Cid.String(), Name: r.Name, Origins: r.Origins, Meta: r.Meta})
	return b
}

func encodeRef(r request) []byte {
	b, _ := json.Marshal(storedRef{Name: r.Name, Origins: r.Origins})
	return b
}

// decodeRequest reads the record of request id.
func decodeRequest(id string, value []byte) (request, error) {
	created, ok := idTime(id)
	if !ok {
		return request{}, fmt.Errorf("pin request record %q: malformed ID", id)
	}
	var sr storedRequest
	if err := json.Unmarshal(value, &sr); err != nil {
		return request{}, fmt.Errorf("pin request record %s: %w", id, err)
	}
	c, err := cid.Decode(sr.Cid)
	if err != nil {
		return request{}, fmt.Errorf("pin request record %s: %w", id, err)
	}
	return request{ID: id, Owner: sr.Owner, Cid: c, Name: sr.Name, Origins: sr.Origins, Meta: sr.Meta, Created: created}, nil
}

// parsePin reads the Pin object of POST /pins: a CID, and at most a name
// of 255 characters, 20 distinct origins (multiaddrs with /p2p/) and 1000
// metadata strings. Unknown fields are ignored, as JSON objects usually
// are; anything malformed is an error. The request has no ID or owner yet.
func parsePin(body io.Reader) (request, error) {
	dec := json.NewDecoder(body)
	var wp *wirePin
	if err := dec.Decode(&wp); err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			return request{}, errorf(http.StatusRequestEntityTooLarge, "the body is over %d bytes", mb.Limit)
		}
		return request{}, badRequest("the body is not a Pin object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return request{}, badRequest("the body has data after the Pin object")
	}
	if wp == nil {
		return request{}, badRequest("the body is not a Pin object: null")
	}
	if wp.Cid == "" {
		return request{}, badRequest("cid is missing")
	}
	c, err := cid.Decode(wp.Cid)
	if err != nil {
		return request{}, badRequest("cid %q: %v", wp.Cid, err)
	}
	r := request{Cid: c, Name: wp.Name, Meta: wp.Meta}
	if n := utf8.RuneCountInString(r.Name); n > maxName {
		return request{}, badRequest("name: %d characters, at most %d", n, maxName)
	}
	if len(wp.Origins) > maxOrigins {
		return request{}, badRequest("origins: %d addresses, at most %d", len(wp.Origins), maxOrigins)
	}
	for _, s := range wp.Origins {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return request{}, badRequest("origin %q: %v", s, err)
		}
		if _, err := m.ValueForProtocol(ma.P_P2P); err != nil {
			return request{}, badRequest("origin %q has no /p2p/<peer ID>", s)
		}
		if slices.Contains(r.Origins, m.String()) {
			return request{}, badRequest("origin %q is given twice", s)
		}
		r.Origins = append(r.Origins, m.String())
	}
	if len(r.Meta) > maxMeta {
		return request{}, badRequest("meta: %d keys, at most %d", len(r.Meta), maxMeta)
	}
	if len(r.Meta) == 0 {
		r.Meta = nil
	}
	return r, nil
}
