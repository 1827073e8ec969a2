// Package importer turns files and directories into UnixFS DAGs that carry
// exactly the CIDs Kubo 0.43 produces for the same options.
//
// Kubo resolves its import options in two layers: a profile (its
// Import.* config) gives defaults, and explicit add flags override them. Params
// mirrors that split so that "flag not given" and "flag given as the default"
// stay distinguishable, which matters: --cid-version=1 implies raw leaves only
// when --raw-leaves was not given.
package importer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/boxo/verifcid"
	cid "github.com/ipfs/go-cid"
	"github.com/ipfs/go-cidutil"
	mh "github.com/multiformats/go-multihash"
)

// Profile names, as Kubo's IPIP-499 import profiles.
const (
	ProfileV0 = "unixfs-v0-2015"
	ProfileV1 = "unixfs-v1-2025"
)

// ErrBadParams wraps every validation failure, so callers can map it to a
// client error.
var ErrBadParams = errors.New("invalid import parameters")

// Params are the caller's import choices. Nil pointers and empty strings mean
// "not given": the profile (or Kubo's defaults) decides.
type Params struct {
	Profile           string // "", ProfileV0 or ProfileV1
	CidVersion        *int
	Hash              string // multihash name, e.g. "sha2-256"
	RawLeaves         *bool
	Chunker           string // size-N | rabin-min-avg-max | buzhash
	Trickle           *bool
	MaxFileLinks      *int
	MaxDirectoryLinks *int
	MaxHAMTFanout     *int
	Inline            bool
	InlineLimit       int // 0 means Kubo's default of 32 bytes
	EmptyDirs         *bool
	Wrap              bool // wrap the added node in a directory
}

// Settings are Params resolved against the profile: everything the importer
// needs, with no optional left.
type Settings struct {
	CidBuilder        cid.Builder
	RawLeaves         bool
	Chunker           string
	Trickle           bool
	MaxFileLinks      int
	MaxDirectoryLinks int
	HAMTFanout        int
	HAMTThreshold     int
	SizeEstimation    uio.SizeEstimationMode
	IncludeEmptyDirs  bool
	Wrap              bool
}

// profile holds the Import.* values a Kubo profile sets. A nil field is one
// the profile leaves at Kubo's built-in default.
type profile struct {
	cidVersion     *int
	rawLeaves      *bool
	chunker        string
	fileMaxLinks   *int
	sizeEstimation uio.SizeEstimationMode
}

func ptr[T any](v T) *T { return &v }

// profiles mirror kubo/config/profile.go. The legacy profile spells out Kubo's
// defaults, but spelling them out matters: a profile value counts as "set", so
// raw leaves stay off even with --cid-version=1, exactly as in Kubo.
var profiles = map[string]profile{
	"": {sizeEstimation: uio.SizeEstimationLinks},
	ProfileV0: {
		cidVersion: ptr(0), rawLeaves: ptr(false), chunker: "size-262144",
		fileMaxLinks: ptr(174), sizeEstimation: uio.SizeEstimationLinks,
	},
	ProfileV1: {
		cidVersion: ptr(1), rawLeaves: ptr(true), chunker: "size-1048576",
		fileMaxLinks: ptr(1024), sizeEstimation: uio.SizeEstimationBlock,
	},
}

const (
	defaultChunker       = "size-262144"
	defaultHAMTThreshold = 256 << 10
	defaultInlineLimit   = 32
)

// Resolve applies Kubo's precedence rules: explicit parameter, then profile,
// then Kubo's defaults.
func (p Params) Resolve() (Settings, error) {
	prof, ok := profiles[p.Profile]
	if !ok {
		return Settings{}, fmt.Errorf("%w: unknown profile %q (want %s or %s)", ErrBadParams, p.Profile, ProfileV0, ProfileV1)
	}
	s := Settings{
		Chunker:           defaultChunker,
		MaxFileLinks:      helpers.DefaultLinksPerBlock,
		HAMTFanout:        256,
		HAMTThreshold:     defaultHAMTThreshold,
		SizeEstimation:    prof.sizeEstimation,
		IncludeEmptyDirs:  true,
		Wrap:              p.Wrap,
		MaxDirectoryLinks: 0,
	}
	if prof.chunker != "" {
		s.Chunker = prof.chunker
	}
	if p.Chunker != "" {
		s.Chunker = p.Chunker
	}
	if err := ValidateChunker(s.Chunker); err != nil {
		return Settings{}, err
	}
	if prof.fileMaxLinks != nil {
		s.MaxFileLinks = *prof.fileMaxLinks
	}
	if p.MaxFileLinks != nil {
		if *p.MaxFileLinks <= 0 {
			return Settings{}, fmt.Errorf("%w: max-file-links must be positive, got %d", ErrBadParams, *p.MaxFileLinks)
		}
		s.MaxFileLinks = *p.MaxFileLinks
	}
	if p.MaxDirectoryLinks != nil {
		if *p.MaxDirectoryLinks < 0 {
			return Settings{}, fmt.Errorf("%w: max-directory-links must not be negative, got %d", ErrBadParams, *p.MaxDirectoryLinks)
		}
		s.MaxDirectoryLinks = *p.MaxDirectoryLinks
	}
	if p.MaxHAMTFanout != nil {
		f := *p.MaxHAMTFanout
		if f < 8 || f > 1024 || f&(f-1) != 0 {
			return Settings{}, fmt.Errorf("%w: max-hamt-fanout must be a power of 2 between 8 and 1024, got %d", ErrBadParams, f)
		}
		s.HAMTFanout = f
	}
	if p.Trickle != nil {
		s.Trickle = *p.Trickle
	}
	if p.EmptyDirs != nil {
		s.IncludeEmptyDirs = *p.EmptyDirs
	}

	// CID version and raw leaves: a value counts as "set" when it comes from
	// a flag or from the profile, as Kubo's add command does with its config.
	cidVersion, cidVersionSet := -1, false
	if prof.cidVersion != nil {
		cidVersion, cidVersionSet = *prof.cidVersion, true
	}
	if p.CidVersion != nil {
		cidVersion, cidVersionSet = *p.CidVersion, true
	}
	rawLeaves, rawLeavesSet := false, false
	if prof.rawLeaves != nil {
		rawLeaves, rawLeavesSet = *prof.rawLeaves, true
	}
	if p.RawLeaves != nil {
		rawLeaves, rawLeavesSet = *p.RawLeaves, true
	}

	hashName := p.Hash
	if hashName == "" {
		hashName = "sha2-256"
	}
	hashCode, ok := mh.Names[strings.ToLower(hashName)]
	if !ok {
		return Settings{}, fmt.Errorf("%w: unrecognized hash function %q", ErrBadParams, hashName)
	}
	if !verifcid.DefaultAllowlist.IsAllowed(hashCode) {
		return Settings{}, fmt.Errorf("%w: hash function %q is not allowed", ErrBadParams, hashName)
	}
	if !cidVersionSet {
		cidVersion = 0
	}
	if hashCode != mh.SHA2_256 {
		if cidVersionSet && cidVersion == 0 {
			return Settings{}, fmt.Errorf("%w: CIDv0 only supports sha2-256", ErrBadParams)
		}
		cidVersion = 1
	}
	if cidVersion != 0 && cidVersion != 1 {
		return Settings{}, fmt.Errorf("%w: unknown CID version %d", ErrBadParams, cidVersion)
	}
	if cidVersion > 0 && !rawLeavesSet {
		rawLeaves = true
	}
	s.RawLeaves = rawLeaves

	prefix, err := merkledag.PrefixForCidVersion(cidVersion)
	if err != nil {
		return Settings{}, fmt.Errorf("%w: %v", ErrBadParams, err)
	}
	prefix.MhType = hashCode
	prefix.MhLength = -1
	s.CidBuilder = &prefix

	if p.Inline {
		limit := p.InlineLimit
		if limit == 0 {
			limit = defaultInlineLimit
		}
		if limit < 0 || limit > verifcid.DefaultMaxIdentityDigestSize {
			return Settings{}, fmt.Errorf("%w: inline-limit %d exceeds the maximum of %d bytes", ErrBadParams, limit, verifcid.DefaultMaxIdentityDigestSize)
		}
		s.CidBuilder = cidutil.InlineBuilder{Builder: s.CidBuilder, Limit: limit}
	}
	return s, nil
}

// ValidateChunker checks a chunker spec the way Kubo does before any byte is
// read, so that a typo fails fast instead of halfway through an upload.
func ValidateChunker(spec string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: chunker %q: %s (want size-<bytes>, rabin-<min>-<avg>-<max> or buzhash)", ErrBadParams, spec, why)
	}
	switch {
	case spec == "buzhash":
		return nil
	case strings.HasPrefix(spec, "size-"):
		n, err := strconv.Atoi(strings.TrimPrefix(spec, "size-"))
		if err != nil || n <= 0 {
			return bad("size must be a positive integer")
		}
		if n > chunker.ChunkSizeLimit {
			return bad(fmt.Sprintf("size exceeds the block limit of %d bytes", chunker.ChunkSizeLimit))
		}
		return nil
	case strings.HasPrefix(spec, "rabin"):
		parts := strings.Split(spec, "-")
		if len(parts) == 2 {
			if _, err := strconv.Atoi(parts[1]); err == nil {
				return nil // rabin-<avg>, as boxo accepts
			}
			return bad("average must be an integer")
		}
		if len(parts) == 1 {
			return nil
		}
		if len(parts) != 4 {
			return bad("malformed rabin spec")
		}
		var v [3]int
		for i := range v {
			n, err := strconv.Atoi(parts[i+1])
			if err != nil || n <= 0 {
				return bad("rabin sizes must be positive integers")
			}
			v[i] = n
		}
		if v[0] > v[1] || v[1] > v[2] {
			return bad("rabin sizes must satisfy min <= avg <= max")
		}
		if v[2] > chunker.ChunkSizeLimit {
			return bad("rabin max exceeds the block limit")
		}
		return nil
	default:
		return bad("unknown chunker")
	}
}
