package kuborpc

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/boxo/path"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multibase"

	"github.com/flotilla-ipfs/flotilla/internal/ipfs"
	"github.com/flotilla-ipfs/flotilla/internal/names"
)

// The key/* and name/publish commands, with Kubo's options and outputs,
// over the cluster's keys and names (package names).

// KeyOutput is one key as Kubo's key commands print it.
type KeyOutput struct {
	Name string
	Id   string //nolint:revive // Kubo's field name
}

// KeyOutputList is key/list's and key/rm's answer.
type KeyOutputList struct {
	Keys []KeyOutput
}

// KeyRenameOutput is key/rename's answer.
type KeyRenameOutput struct {
	Was       string
	Now       string
	Id        string //nolint:revive // Kubo's field name
	Overwrite bool
}

// IpnsEntry is name/publish's answer.
type IpnsEntry struct {
	Name  string
	Value string
}

// Key formats of import and export, Kubo's names.
const (
	formatLibp2p = "libp2p-protobuf-cleartext"
	formatPEM    = "pem-pkcs8-cleartext"
)

func (s *server) names() (*names.Service, error) {
	if s.Names == nil {
		return nil, &statusError{status: http.StatusNotImplemented, err: errors.New("keys and names need the cluster: this node has none")}
	}
	return s.Names, nil
}

// idEncoder formats key IDs as --ipns-base asks: base36 CIDs by default,
// b58mh for the legacy peer ID form.
func idEncoder(req *request) (func(peer.ID) string, error) {
	base := req.str("ipns-base")
	switch base {
	case "b58mh", "v0":
		return peer.ID.String, nil
	case "":
		base = "base36"
	}
	enc, err := multibase.EncoderByName(base)
	if err != nil {
		return nil, badRequest("cannot get key encoder: %v", err)
	}
	return func(id peer.ID) string { return enc.Encode(peer.ToCid(id).Bytes()) }, nil
}

// keyCall is how every key command starts: the names service, at least
// nargs arguments (last names the last one required, for the error) and the
// ID encoder --ipns-base asks for.
func (s *server) keyCall(req *request, nargs int, last string) (*names.Service, []string, func(peer.ID) string, error) {
	ns, err := s.names()
	if err != nil {
		return nil, nil, nil, err
	}
	args, err := req.needArgs(nargs, last)
	if err != nil {
		return nil, nil, nil, err
	}
	enc, err := idEncoder(req)
	return ns, args, enc, err
}

func (s *server) keyGen(ctx context.Context, req *request, res *response) error {
	ns, args, enc, err := s.keyCall(req, 1, "name")
	if err != nil {
		return err
	}
	size, err := req.optInt("size")
	if err != nil {
		return err
	}
	bits := 0
	if size != nil {
		bits = *size
	}
	k, err := ns.Generate(ctx, args[0], req.str("type"), bits)
	if err != nil {
		return err
	}
	return res.single(KeyOutput{Name: k.Name, Id: enc(k.ID)})
}

func (s *server) keyList(ctx context.Context, req *request, res *response) error {
	ns, _, enc, err := s.keyCall(req, 0, "")
	if err != nil {
		return err
	}
	keys, err := ns.List(ctx)
	if err != nil {
		return err
	}
	out := KeyOutputList{Keys: make([]KeyOutput, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, KeyOutput{Name: k.Name, Id: enc(k.ID)})
	}
	return res.single(out)
}

func (s *server) keyRm(ctx context.Context, req *request, res *response) error {
	ns, args, enc, err := s.keyCall(req, 1, "name")
	if err != nil {
		return err
	}
	out := KeyOutputList{Keys: []KeyOutput{}}
	for _, name := range args {
		k, err := ns.Remove(ctx, name)
		if err != nil {
			return err
		}
		out.Keys = append(out.Keys, KeyOutput{Name: name, Id: enc(k.ID)})
	}
	return res.single(out)
}

func (s *server) keyRename(ctx context.Context, req *request, res *response) error {
	ns, args, enc, err := s.keyCall(req, 2, "newName")
	if err != nil {
		return err
	}
	force, err := req.boolOpt("force", false)
	if err != nil {
		return err
	}
	k, overwritten, err := ns.Rename(ctx, args[0], args[1], force)
	if err != nil {
		return err
	}
	return res.single(KeyRenameOutput{Was: args[0], Now: args[1], Id: enc(k.ID), Overwrite: overwritten})
}

func (s *server) keyImport(ctx context.Context, req *request, res *response) error {
	ns, args, enc, err := s.keyCall(req, 1, "name")
	if err != nil {
		return err
	}
	// Keys are small: an RSA-16384 key in PEM is under 13 KiB.
	raw, err := smallFile(ctx, req, "key", 64<<10)
	if errors.Is(err, errTooLarge) {
		return badRequest("key file is over 64 KiB")
	} else if err != nil {
		return err
	}
	sk, err := decodeKey(raw, req.str("format"))
	if err != nil {
		return err
	}
	k, err := ns.Import(ctx, args[0], sk)
	if err != nil {
		return err
	}
	return res.single(KeyOutput{Name: k.Name, Id: enc(k.ID)})
}

// decodeKey reads a private key in one of Kubo's formats.
func decodeKey(raw []byte, format string) (crypto.PrivKey, error) {
	switch format {
	case "", formatLibp2p:
		sk, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			if b, _ := pem.Decode(raw); b != nil {
				return nil, badRequest("unexpected PEM block for format=%s: try again with format=%s", formatLibp2p, formatPEM)
			}
			return nil, badRequest("unable to unmarshall format=%s: %v", formatLibp2p, err)
		}
		return sk, nil
	case formatPEM:
		b, _ := pem.Decode(raw)
		if b == nil {
			return nil, badRequest("PEM block not found in input data")
		}
		if b.Type != "PRIVATE KEY" {
			return nil, badRequest("expected PRIVATE KEY type in PEM block but got: %s", b.Type)
		}
		std, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, badRequest("parsing PKCS8 format: %v", err)
		}
		sk, _, err := crypto.KeyPairFromStdKey(std)
		if err != nil {
			return nil, badRequest("converting std Go key to libp2p key: %v", err)
		}
		return sk, nil
	}
	return nil, badRequest("unrecognized import format: %s", format)
}

// keyExport answers the key's bytes: the libp2p protobuf, or PKCS #8 DER
// that the client wraps in PEM, as Kubo's command does. Kubo's own CLI
// exports from its repo on disk; here the key lives in the cluster, so the
// command is remote and needs the admin scope.
func (s *server) keyExport(ctx context.Context, req *request, res *response) error {
	ns, err := s.names()
	if err != nil {
		return err
	}
	args, err := req.needArgs(1, "name")
	if err != nil {
		return err
	}
	format := req.str("format")
	if format != "" && format != formatLibp2p && format != formatPEM {
		return badRequest("unrecognized export format: %s", format)
	}
	sk, err := ns.Export(ctx, args[0])
	if err != nil {
		return err
	}
	var out []byte
	if format == formatPEM {
		out, err = pkcs8(sk)
	} else {
		out, err = crypto.MarshalPrivateKey(sk)
	}
	if err != nil {
		return err
	}
	_, err = res.stream("application/octet-stream").Write(out)
	return err
}

// pkcs8 encodes a private key as PKCS #8 DER.
func pkcs8(sk crypto.PrivKey) ([]byte, error) {
	std, err := crypto.PrivKeyToStdKey(sk)
	if err != nil {
		return nil, badRequest("converting libp2p private key to std Go key: %v", err)
	}
	// x509 takes ed25519 keys by value; libp2p gives a pointer.
	if ed, ok := std.(*ed25519.PrivateKey); ok {
		std = *ed
	}
	// secp256k1 is not a curve x509 knows: those keys export in the
	// libp2p format only.
	der, err := x509.MarshalPKCS8PrivateKey(std)
	if err != nil {
		return nil, badRequest("marshalling key to PKCS8 format: %v", err)
	}
	return der, nil
}

func (s *server) namePublish(ctx context.Context, req *request, res *response) error {
	ns, err := s.names()
	if err != nil {
		return err
	}
	args, err := req.needArgs(1, "ipfs-path")
	if err != nil {
		return err
	}
	var o names.PublishOptions
	if v := req.str("lifetime"); v != "" {
		if o.Lifetime, err = time.ParseDuration(v); err != nil {
			return badRequest("error parsing lifetime option: %v", err)
		}
		if o.Lifetime <= 0 {
			return badRequest("lifetime must be greater than zero, got %s", v)
		}
	}
	if v := req.str("ttl"); v != "" {
		if o.TTL, err = time.ParseDuration(v); err != nil {
			return badRequest("%v", err)
		}
		o.TTLSet = true
	}
	if v := req.str("sequence"); v != "" {
		seq, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return badRequest("option \"sequence\": %q is not a number", v)
		}
		o.Sequence = &seq
	}
	if o.V1, err = req.boolOpt("v1compat", true); err != nil {
		return err
	}
	check, err := req.boolOpt("resolve", true)
	if err != nil {
		return err
	}
	// A name may point to another name: /ipns/ paths are published as
	// given, as Kubo does, and only resolved for the check.
	var p path.Path
	if strings.HasPrefix(args[0], "/ipns/") {
		if p, err = path.NewPath(args[0]); err != nil {
			return badRequest("%v", err)
		}
	} else if p, err = ipfs.ParsePath(args[0]); err != nil {
		return err
	}
	if check {
		ip, err := s.Node.ResolvePath(ctx, p.String())
		if err != nil {
			return err
		}
		if _, err := s.Node.Resolve(ctx, ip); err != nil {
			return err
		}
	}
	key := req.str("key")
	if key == "" {
		key = names.Self
	}
	name, err := ns.Publish(ctx, key, p, o)
	if err != nil {
		return err
	}
	return res.single(IpnsEntry{Name: name.String(), Value: p.String()})
}
