// Package clusternet carries cluster traffic (raft and peer RPC) between
// peers on one TCP port, inside TLS 1.3 with mutual authentication by the
// cluster secret.
//
// Every peer derives the same ed25519 key from the secret (HKDF-SHA256) and
// presents a certificate for it; a peer accepts a connection only when the
// other side proves possession of that key. A node without the secret can
// neither join nor read. Peers are dialled by host:port, so joining through
// an address or a DNS name needs no prior knowledge of peer IDs.
//
// After the handshake, the dialer writes one byte naming the protocol
// (raft, RPC, or an API request handed to another peer), and the listener
// hands the connection to that protocol's listener, as Nomad does on its
// RPC port.
package clusternet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// Protocol bytes, written by the dialer after the handshake.
const (
	ProtoRaft byte = 'r'
	ProtoRPC  byte = 'h'
	// ProtoAPI carries requests of the public APIs that one peer hands to
	// the peer holding their state (the registry's uploads in progress),
	// as HTTP/1.1: authenticated by the cluster secret, so the receiving
	// peer serves them without asking for the client's credentials again.
	ProtoAPI byte = 'a'
)

// ErrBlocked is returned by dials that fault injection forbids.
var ErrBlocked = errors.New("clusternet: link blocked")

// Faults decides, in tests, which links are cut. A nil Faults cuts none.
type Faults interface {
	// Blocked reports whether this peer may not reach addr.
	Blocked(addr string) bool
}

// Net is one peer's endpoint: a listener demultiplexing by protocol and a
// dialer.
type Net struct {
	tlsConf *tls.Config
	ln      net.Listener
	addr    string // advertised host:port
	faults  Faults

	mu     sync.Mutex
	protos map[byte]*protoListener
	conns  map[net.Conn]string // dialled connections, by remote address
	closed bool
}

// TLSConfig returns the mutual-TLS configuration derived from secret.
func TLSConfig(secret []byte) (*tls.Config, error) {
	if len(secret) < 16 {
		return nil, errors.New("clusternet: the cluster secret must be at least 16 bytes")
	}
	seed, err := hkdf.Key(sha256.New, secret, []byte("flotilla cluster"), "ed25519 tls key", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	key := ed25519.NewKeyFromSeed(seed)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "flotilla-cluster"},
		DNSNames:     []string{"flotilla-cluster"},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	// The certificate is not checked against a CA: the peer must present
	// the one public key that the secret yields, which it cannot do without
	// the secret (TLS 1.3 proves possession of the private key).
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("clusternet: peer presented no certificate")
		}
		cert, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		other, ok := cert.PublicKey.(ed25519.PublicKey)
		if !ok || !bytes.Equal(other, pub) {
			return errors.New("clusternet: peer does not hold the cluster secret")
		}
		// Only expiry is checked, not NotBefore: peers mint their own
		// certificates valid from 2000, and a node whose clock has not
		// been set yet (1970) must still join.
		if time.Now().After(cert.NotAfter) {
			return errors.New("clusternet: peer certificate has expired")
		}
		return nil
	}
	return &tls.Config{
		Certificates:          []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		ClientAuth:            tls.RequireAnyClientCert,
		InsecureSkipVerify:    true, // replaced by VerifyPeerCertificate, see above
		VerifyPeerCertificate: verify,
		MinVersion:            tls.VersionTLS13,
		ServerName:            "flotilla-cluster",
	}, nil
}

// Listen binds listen (host:port) and returns the endpoint. advertise is the
// address other peers dial; empty means the bound address.
func Listen(listen, advertise string, secret []byte, faults Faults) (*Net, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	n, err := Serve(ln, advertise, secret, faults)
	if err != nil {
		ln.Close()
	}
	return n, err
}

// Serve is Listen on an already bound listener, which it takes over.
func Serve(ln net.Listener, advertise string, secret []byte, faults Faults) (*Net, error) {
	conf, err := TLSConfig(secret)
	if err != nil {
		return nil, err
	}
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	n := &Net{tlsConf: conf, ln: ln, addr: advertise, faults: faults,
		protos: map[byte]*protoListener{}, conns: map[net.Conn]string{}}
	for _, p := range []byte{ProtoRaft, ProtoRPC, ProtoAPI} {
		n.protos[p] = &protoListener{net: n, ch: make(chan net.Conn), done: make(chan struct{})}
	}
	go n.accept()
	return n, nil
}

// Addr is the advertised address.
func (n *Net) Addr() string { return n.addr }

// Listener returns the listener of one protocol.
func (n *Net) Listener(proto byte) net.Listener { return n.protos[proto] }

func (n *Net) accept() {
	for {
		c, err := n.ln.Accept()
		if err != nil {
			return
		}
		go n.handshake(c)
	}
}

// handshake authenticates an inbound connection and routes it. Slow or
// failed handshakes are dropped without holding up others.
func (n *Net) handshake(c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Server(c, n.tlsConf)
	if err := tc.Handshake(); err != nil {
		c.Close()
		return
	}
	var proto [1]byte
	if _, err := tc.Read(proto[:]); err != nil {
		tc.Close()
		return
	}
	tc.SetDeadline(time.Time{})
	pl, ok := n.protos[proto[0]]
	if !ok {
		tc.Close()
		return
	}
	select {
	case pl.ch <- tc:
	case <-pl.done:
		tc.Close()
	}
}

// Dial opens an authenticated connection to addr for proto.
func (n *Net) Dial(ctx context.Context, addr string, proto byte) (net.Conn, error) {
	if n.faults != nil && n.faults.Blocked(addr) {
		return nil, fmt.Errorf("%w: to %s", ErrBlocked, addr)
	}
	d := tls.Dialer{Config: n.tlsConf, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{proto}); err != nil {
		c.Close()
		return nil, err
	}
	tracked := &trackedConn{Conn: c, net: n}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		c.Close()
		return nil, net.ErrClosed
	}
	n.conns[tracked] = addr
	n.mu.Unlock()
	return tracked, nil
}

// Cut closes every connection this peer dialled to addr. Fault injection
// calls it after blocking a link, so established streams die too.
func (n *Net) Cut(addr string) {
	n.mu.Lock()
	var victims []net.Conn
	for c, a := range n.conns {
		if a == addr {
			victims = append(victims, c)
		}
	}
	n.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
}

// Close stops listening and closes every dialled connection.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	conns := n.conns
	n.conns = map[net.Conn]string{}
	n.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	for _, p := range n.protos {
		p.close()
	}
	return n.ln.Close()
}

type trackedConn struct {
	net.Conn
	net  *Net
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.net.mu.Lock()
		delete(c.net.conns, c)
		c.net.mu.Unlock()
	})
	return c.Conn.Close()
}

// protoListener is the listener of one protocol.
type protoListener struct {
	net  *Net
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (p *protoListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.ch:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *protoListener) close() { p.once.Do(func() { close(p.done) }) }

// Close stops this protocol's listener only.
func (p *protoListener) Close() error { p.close(); return nil }

func (p *protoListener) Addr() net.Addr { return addr(p.net.addr) }

type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
