package clusternet_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/flotilla-ipfs/flotilla/internal/clusternet"
)

// wait bounds every blocking step of these tests. Healthy runs take
// milliseconds; the margin is for -race on a loaded machine.
const wait = 10 * time.Second

var (
	secret      = []byte("the right cluster secret, 32 b..")
	wrongSecret = []byte("a wrong cluster secret, 32 bytes")
)

func newNet(t *testing.T, s []byte, f clusternet.Faults) *clusternet.Net {
	t.Helper()
	n, err := clusternet.Listen("127.0.0.1:0", "", s, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// accept returns the next connection of l, failing the test after wait. A
// timed-out Accept stays blocked until the Net is closed at cleanup.
func accept(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Accept: %v", r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-timer.C:
		t.Fatalf("Accept: nothing delivered within %v", wait)
		return nil
	}
}

// dial is Net.Dial with a bounded context.
func dial(t *testing.T, n *clusternet.Net, addr string, proto byte) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := n.Dial(ctx, addr, proto)
	if err != nil {
		t.Fatalf("Dial %s proto %q: %v", addr, proto, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialErr(n *clusternet.Net, addr string, proto byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := n.Dial(ctx, addr, proto)
	if err == nil {
		c.Close()
	}
	return err
}

// mustBeRefused asserts that the listener refused c: TLS reads end in an
// error (an alert or close_notify), and the TCP connection underneath is
// closed too, both before the deadline. A listener that delivered c to a
// protocol's Accept, held it waiting for one, or merely alerted without
// closing would leave it open.
func mustBeRefused(t *testing.T, c *rawConn) {
	t.Helper()
	c.raw.SetDeadline(time.Now().Add(wait))
	var buf [1024]byte
	isTimeout := func(err error) bool {
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		var n int
		n, err = c.Read(buf[:])
		if n > 0 {
			t.Fatalf("refused connection received data %q", buf[:n])
		}
	}
	if err == nil || isTimeout(err) {
		t.Fatalf("TLS read: %v; the listener did not refuse the connection within %v", err, wait)
	}
	err = nil
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = c.raw.Read(buf[:])
	}
	if err == nil || isTimeout(err) {
		t.Fatalf("TCP read: %v; the listener did not close the connection within %v", err, wait)
	}
}

// sameConn asserts that the connection a listener delivered (server side) is
// the one dialled as client, by comparing TCP endpoints.
func sameConn(t *testing.T, server, client net.Conn) {
	t.Helper()
	if got, want := server.RemoteAddr().String(), client.LocalAddr().String(); got != want {
		t.Fatalf("listener delivered the connection from %s, want the one from %s", got, want)
	}
}

// probe dials proto from a Net with n's secret s and checks that it is the
// first connection n delivers on that protocol: nothing refused earlier is
// queued ahead of it.
func probe(t *testing.T, n *clusternet.Net, s []byte, proto byte) {
	t.Helper()
	good := newNet(t, s, nil)
	c := dial(t, good, n.Addr(), proto)
	srv := accept(t, n.Listener(proto))
	sameConn(t, srv, c)
	roundTrip(t, c, srv, "probe")
}

// roundTrip sends msg from a to b and back.
func roundTrip(t *testing.T, a, b net.Conn, msg string) {
	t.Helper()
	a.SetDeadline(time.Now().Add(wait))
	b.SetDeadline(time.Now().Add(wait))
	defer a.SetDeadline(time.Time{})
	defer b.SetDeadline(time.Time{})
	for _, d := range []struct{ from, to net.Conn }{{a, b}, {b, a}} {
		errc := make(chan error, 1)
		go func() { _, err := d.from.Write([]byte(msg)); errc <- err }()
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(d.to, buf); err != nil {
			t.Fatalf("read: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("write: %v", err)
		}
		if string(buf) != msg {
			t.Fatalf("got %q, want %q", buf, msg)
		}
	}
}

// rawConn is a client connection made by hand, with its TCP connection.
type rawConn struct {
	*tls.Conn
	raw net.Conn
}

// rawClient performs a TLS 1.3 handshake with addr presenting certs (none
// if nil) and accepting any server, as an attacker would, then writes proto.
// In TLS 1.3 the client finishes its handshake before the server has
// checked the client certificate, so refusal shows up on later reads.
func rawClient(t *testing.T, addr string, certs []tls.Certificate, proto byte) *rawConn {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetDeadline(time.Now().Add(wait))
	tc := tls.Client(raw, &tls.Config{
		Certificates:       certs,
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS13,
	})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("client side of the handshake: %v", err)
	}
	// A write error means the server has already reset the connection;
	// the reads in mustBeRefused see that too.
	tc.Write([]byte{proto})
	return &rawConn{Conn: tc, raw: raw}
}

// fakeServer is a TLS 1.3 server presenting cert that completes handshakes
// and then discards whatever arrives. It returns its address.
func fakeServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAnyClientCert}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(wait))
				tc := tls.Server(c, conf)
				if tc.Handshake() == nil {
					io.Copy(io.Discard, tc)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// clusterKey is the private key the package derives from s.
func clusterKey(t *testing.T, s []byte) ed25519.PrivateKey {
	t.Helper()
	conf, err := clusternet.TLSConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	return conf.Certificates[0].PrivateKey.(ed25519.PrivateKey)
}

// genuineCertDER is the certificate a right-secret peer presents; anyone who
// connects to a peer can record it.
func genuineCertDER(t *testing.T) []byte {
	t.Helper()
	conf, err := clusternet.TLSConfig(secret)
	if err != nil {
		t.Fatal(err)
	}
	return conf.Certificates[0].Certificate[0]
}

// makeCert builds a certificate for pub signed by signer (self-signed when
// signer holds pub's private key), shaped like the package's own.
func makeCert(t *testing.T, pub any, signer any, notBefore, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "flotilla-cluster"},
		DNSNames:     []string{"flotilla-cluster"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var (
	longAgo   = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	farFuture = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func TestTLSConfigRejectsShortSecret(t *testing.T) {
	if _, err := clusternet.TLSConfig([]byte("fifteen bytes!!")); err == nil {
		t.Fatal("a 15-byte secret was accepted")
	}
	if _, err := clusternet.Listen("127.0.0.1:0", "", []byte("short"), nil); err == nil {
		t.Fatal("Listen accepted a 5-byte secret")
	}
}

func TestWrongSecretRefused(t *testing.T) {
	for _, proto := range []byte{clusternet.ProtoRaft, clusternet.ProtoRPC, clusternet.ProtoAPI} {
		t.Run(fmt.Sprintf("proto=%c", proto), func(t *testing.T) {
			right := newNet(t, secret, nil)
			wrong := newNet(t, wrongSecret, nil)

			// (a) wrong-secret node dials the right-secret one.
			err := dialErr(wrong, right.Addr(), proto)
			if err == nil {
				t.Fatal("wrong-secret node dialled a right-secret node")
			}
			if !strings.Contains(err.Error(), "does not hold the cluster secret") {
				t.Fatalf("dial failed for another reason than the secret: %v", err)
			}

			// (a') same, but the intruder skips checking the server, so its
			// side of the TLS 1.3 handshake completes: the right-secret
			// listener must still close it and never deliver it.
			wrongCert := tls.Certificate{
				Certificate: [][]byte{makeCert(t, clusterKey(t, wrongSecret).Public(), clusterKey(t, wrongSecret), longAgo, farFuture)},
				PrivateKey:  clusterKey(t, wrongSecret),
			}
			mustBeRefused(t, rawClient(t, right.Addr(), []tls.Certificate{wrongCert}, proto))
			probe(t, right, secret, proto)

			// (b) right-secret node dials the wrong-secret one.
			err = dialErr(right, wrong.Addr(), proto)
			if err == nil {
				t.Fatal("right-secret node dialled a wrong-secret node")
			}
			if !strings.Contains(err.Error(), "does not hold the cluster secret") {
				t.Fatalf("dial failed for another reason than the secret: %v", err)
			}
			probe(t, wrong, wrongSecret, proto) // the wrong node's listener delivered nothing either
		})
	}
}

func TestForgedCertificatesRefused(t *testing.T) {
	_, attackerKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := clusterKey(t, secret)

	cases := []struct {
		name string
		cert tls.Certificate
		// why is a substring of the error a right-secret dialler reports
		// when a server presents cert.
		why string
	}{{
		name: "self-signed ed25519, same names as the cluster's",
		cert: tls.Certificate{Certificate: [][]byte{makeCert(t, attackerKey.Public(), attackerKey, longAgo, farFuture)}, PrivateKey: attackerKey},
		why:  "does not hold the cluster secret",
	}, {
		name: "self-signed ecdsa",
		cert: tls.Certificate{Certificate: [][]byte{makeCert(t, ecKey.Public(), ecKey, longAgo, farFuture)}, PrivateKey: ecKey},
		why:  "does not hold the cluster secret",
	}, {
		// The trust model pins the public key; a recorded genuine
		// certificate is useless without the private key, because TLS 1.3
		// makes the peer sign the handshake with it.
		name: "replayed genuine certificate, attacker's private key",
		cert: tls.Certificate{Certificate: [][]byte{genuineCertDER(t)}, PrivateKey: attackerKey},
		why:  "signature",
	}, {
		// The cluster's public key in a certificate the attacker signed:
		// same as above, the handshake signature gives it away.
		name: "cluster public key, signed by the attacker",
		cert: tls.Certificate{Certificate: [][]byte{makeCert(t, key.Public(), attackerKey, longAgo, farFuture)}, PrivateKey: attackerKey},
		why:  "signature",
	}, {
		// A chain whose leaf is the attacker's, with the genuine
		// certificate behind it: only the leaf counts.
		name: "attacker leaf, genuine certificate as intermediate",
		cert: tls.Certificate{Certificate: [][]byte{makeCert(t, attackerKey.Public(), attackerKey, longAgo, farFuture), genuineCertDER(t)}, PrivateKey: attackerKey},
		why:  "does not hold the cluster secret",
	}, {
		name: "expired, cluster key",
		cert: tls.Certificate{Certificate: [][]byte{makeCert(t, key.Public(), key, longAgo, time.Now().Add(-time.Hour))}, PrivateKey: key},
		why:  "expired",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("as client", func(t *testing.T) {
				n := newNet(t, secret, nil)
				mustBeRefused(t, rawClient(t, n.Addr(), []tls.Certificate{tc.cert}, clusternet.ProtoRaft))
				probe(t, n, secret, clusternet.ProtoRaft)
			})
			t.Run("as server", func(t *testing.T) {
				n := newNet(t, secret, nil)
				err := dialErr(n, fakeServer(t, tc.cert), clusternet.ProtoRaft)
				if err == nil {
					t.Fatal("dialled a server presenting a forged certificate")
				}
				if !strings.Contains(err.Error(), tc.why) {
					t.Fatalf("refused for another reason than %q: %v", tc.why, err)
				}
			})
		})
	}

	t.Run("no client certificate", func(t *testing.T) {
		n := newNet(t, secret, nil)
		mustBeRefused(t, rawClient(t, n.Addr(), nil, clusternet.ProtoRaft))
		probe(t, n, secret, clusternet.ProtoRaft)
	})

	// Control for the expiry case: a certificate built the same way from
	// the derived key, but unexpired (and otherwise different from the
	// package's: new serial, subject, validity), is accepted both ways. So
	// the expired one is refused for its expiry and not for how the test
	// built it.
	t.Run("control: fresh certificate from the cluster key", func(t *testing.T) {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(42),
			Subject:      pkix.Name{CommonName: "minted-by-test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}

		n := newNet(t, secret, nil)
		c := rawClient(t, n.Addr(), []tls.Certificate{cert}, clusternet.ProtoRaft)
		s := accept(t, n.Listener(clusternet.ProtoRaft))
		sameConn(t, s, c)
		roundTrip(t, c, s, "fresh")

		if err := dialErr(n, fakeServer(t, cert), clusternet.ProtoRaft); err != nil {
			t.Fatalf("refused a server with a fresh cluster-key certificate: %v", err)
		}
	})
}

func TestProtocolByteDemultiplexes(t *testing.T) {
	n := newNet(t, secret, nil)
	conf, err := clusternet.TLSConfig(secret)
	if err != nil {
		t.Fatal(err)
	}

	// Authenticated connections with unknown protocol bytes are closed.
	for _, b := range []byte{0, 'x', 'R', 'H', 0xff} {
		t.Run(fmt.Sprintf("unknown=%#x", b), func(t *testing.T) {
			mustBeRefused(t, rawClient(t, n.Addr(), conf.Certificates, b))
		})
	}
	// Nothing refused is queued on either listener.
	probe(t, n, secret, clusternet.ProtoRaft)
	probe(t, n, secret, clusternet.ProtoRPC)
	probe(t, n, secret, clusternet.ProtoAPI)

	// Known bytes reach their own listener, with the protocol byte
	// stripped. All are dialled before any is accepted, and the RPC and
	// API listeners are drained first, so a misrouted raft connection
	// would be what they return.
	a := newNet(t, secret, nil)
	raftC := dial(t, a, n.Addr(), clusternet.ProtoRaft)
	rpcC := dial(t, a, n.Addr(), clusternet.ProtoRPC)
	apiC := dial(t, a, n.Addr(), clusternet.ProtoAPI)
	for _, x := range []struct {
		c     net.Conn
		proto byte
		msg   string
	}{{rpcC, clusternet.ProtoRPC, "GET / HTTP/1.1\r\n"}, {apiC, clusternet.ProtoAPI, "PATCH /v2/ HTTP/1.1\r\n"}, {raftC, clusternet.ProtoRaft, "append entries"}} {
		x.c.SetWriteDeadline(time.Now().Add(wait))
		if _, err := x.c.Write([]byte(x.msg)); err != nil {
			t.Fatal(err)
		}
		s := accept(t, n.Listener(x.proto))
		sameConn(t, s, x.c)
		s.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, len(x.msg))
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatal(err)
		}
		if string(buf) != x.msg {
			t.Fatalf("proto %q: listener read %q, want %q", x.proto, buf, x.msg)
		}
	}
}

// faults blocks every address while set.
type faults struct{ on atomic.Bool }

func (f *faults) Blocked(string) bool { return f.on.Load() }

// TestCutMidStream cuts a link while the far side streams data, at the
// connection level, for each protocol.
func TestCutMidStream(t *testing.T) {
	for _, proto := range []byte{clusternet.ProtoRaft, clusternet.ProtoRPC} {
		t.Run(fmt.Sprintf("proto=%c", proto), func(t *testing.T) {
			f := &faults{}
			a := newNet(t, secret, f)
			b := newNet(t, secret, nil)
			other := newNet(t, secret, nil)

			c := dial(t, a, b.Addr(), proto)
			s := accept(t, b.Listener(proto))
			roundTrip(t, c, s, "hello")
			oc := dial(t, a, other.Addr(), proto)
			os := accept(t, other.Listener(proto))

			// b streams to a until its writes fail.
			writeErr := make(chan error, 1)
			go func() {
				s.SetWriteDeadline(time.Now().Add(wait))
				chunk := bytes.Repeat([]byte("x"), 1024)
				for i := 0; i < 1<<20; i++ {
					if _, err := s.Write(chunk); err != nil {
						writeErr <- err
						return
					}
				}
				writeErr <- errors.New("wrote 1 GiB without noticing the cut")
			}()
			c.SetReadDeadline(time.Now().Add(wait))
			if _, err := io.ReadFull(c, make([]byte, 4096)); err != nil {
				t.Fatalf("stream did not start: %v", err)
			}

			f.on.Store(true)
			a.Cut(b.Addr())

			// a's reads fail (after any already-decrypted bytes), with the
			// closed-connection error and not the deadline.
			var rerr error
			buf := make([]byte, 32<<10)
			for i := 0; i < 1<<16 && rerr == nil; i++ {
				_, rerr = c.Read(buf)
			}
			if rerr == nil {
				t.Fatal("reads still succeed after the cut")
			}
			if !errors.Is(rerr, net.ErrClosed) {
				t.Fatalf("read after cut: %v, want net.ErrClosed", rerr)
			}
			// b's writes fail too, and not by their deadline.
			werr := <-writeErr
			var ne net.Error
			if werr == nil || (errors.As(werr, &ne) && ne.Timeout()) {
				t.Fatalf("far side's write after cut: %v, want a connection error", werr)
			}

			// While blocked, no new connection.
			if err := dialErr(a, b.Addr(), proto); !errors.Is(err, clusternet.ErrBlocked) {
				t.Fatalf("dial over a blocked link: %v, want ErrBlocked", err)
			}
			// The cut was to b only.
			roundTrip(t, oc, os, "still here")

			// Healed: a new dial succeeds and data flows.
			f.on.Store(false)
			c2 := dial(t, a, b.Addr(), proto)
			s2 := accept(t, b.Listener(proto))
			sameConn(t, s2, c2)
			roundTrip(t, c2, s2, "after the cut")
		})
	}
}

// streamLayer is the adapter internal/cluster gives hashicorp/raft.
type streamLayer struct{ n *clusternet.Net }

func (s streamLayer) Accept() (net.Conn, error) { return s.n.Listener(clusternet.ProtoRaft).Accept() }
func (s streamLayer) Close() error              { return s.n.Listener(clusternet.ProtoRaft).Close() }
func (s streamLayer) Addr() net.Addr            { return s.n.Listener(clusternet.ProtoRaft).Addr() }
func (s streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.n.Dial(ctx, string(addr), clusternet.ProtoRaft)
}

func newTransport(t *testing.T, n *clusternet.Net) *raft.NetworkTransport {
	t.Helper()
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  streamLayer{n},
		MaxPool: 2,
		// Far beyond wait, so an RPC that returns within wait was ended
		// by the cut and not by raft's own timeout.
		Timeout: 10 * wait,
		Logger:  hclog.NewNullLogger(),
	})
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestCutRaftTransport runs hashicorp/raft's network transport over
// clusternet, cuts the link while an AppendEntries awaits its response, and
// checks that the RPC fails promptly and the next one goes through.
func TestCutRaftTransport(t *testing.T) {
	a := newNet(t, secret, nil)
	b := newNet(t, secret, nil)
	ta, tb := newTransport(t, a), newTransport(t, b)

	// appendEntries sends one AppendEntries from a to b, answers it on b
	// and returns a's result.
	appendEntries := func(term uint64) error {
		t.Helper()
		done := make(chan error, 1)
		var resp raft.AppendEntriesResponse
		go func() {
			done <- ta.AppendEntries("b", raft.ServerAddress(b.Addr()),
				&raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("a"), Addr: []byte(a.Addr())},
					Term: term, Entries: []*raft.Log{{Index: term, Term: term, Data: []byte("entry")}}}, &resp)
		}()
		timer := time.NewTimer(wait)
		defer timer.Stop()
		var rpc raft.RPC
		select {
		case rpc = <-tb.Consumer():
		case err := <-done:
			return err
		case <-timer.C:
			t.Fatal("AppendEntries never reached b")
		}
		req, ok := rpc.Command.(*raft.AppendEntriesRequest)
		if !ok || req.Term != term || len(req.Entries) != 1 || string(req.Entries[0].Data) != "entry" {
			t.Fatalf("b received %#v", rpc.Command)
		}
		rpc.Respond(&raft.AppendEntriesResponse{Term: term, Success: true}, nil)
		select {
		case err := <-done:
			if err == nil && (!resp.Success || resp.Term != term) {
				t.Fatalf("a received %+v", resp)
			}
			return err
		case <-timer.C:
			t.Fatal("AppendEntries answered by b never returned on a")
			return nil
		}
	}

	if err := appendEntries(1); err != nil {
		t.Fatalf("before the cut: %v", err)
	}

	// In flight: b holds the request while a cuts the link.
	done := make(chan error, 1)
	go func() {
		var resp raft.AppendEntriesResponse
		done <- ta.AppendEntries("b", raft.ServerAddress(b.Addr()),
			&raft.AppendEntriesRequest{Term: 2}, &resp)
	}()
	var held raft.RPC
	select {
	case held = <-tb.Consumer():
	case <-time.After(wait):
		t.Fatal("in-flight AppendEntries never reached b")
	}
	a.Cut(b.Addr())
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("in-flight AppendEntries succeeded across a cut")
		}
	case <-time.After(wait):
		t.Fatal("in-flight AppendEntries hung after the cut")
	}
	held.Respond(&raft.AppendEntriesResponse{Term: 2, Success: true}, nil) // into the void

	// The next RPCs dial afresh and succeed.
	for term := uint64(3); term < 6; term++ {
		if err := appendEntries(term); err != nil {
			t.Fatalf("after the cut, term %d: %v", term, err)
		}
	}
}

// TestCutHTTPRPC serves HTTP on the RPC protocol, as internal/cluster does,
// cuts the link during a streaming response, and checks that both ends see
// the failure and the next request works over a new connection.
func TestCutHTTPRPC(t *testing.T) {
	a := newNet(t, secret, nil)
	b := newNet(t, secret, nil)

	serverSawCancel := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "chunk 1")
		w.(http.Flusher).Flush()
		timer := time.NewTimer(2 * wait)
		defer timer.Stop()
		select {
		case <-r.Context().Done():
			serverSawCancel <- struct{}{}
		case <-timer.C:
		}
	})
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "pong") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: wait}
	go srv.Serve(b.Listener(clusternet.ProtoRPC))
	t.Cleanup(func() { srv.Close() })

	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		dials.Add(1)
		return a.Dial(ctx, addr, clusternet.ProtoRPC)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 2 * wait}

	resp, err := hc.Get("http://" + b.Addr() + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "chunk 1\n" {
		t.Fatalf("first chunk: %q, %v", line, err)
	}

	a.Cut(b.Addr())

	readErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, br)
		readErr <- err
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("streaming body ended cleanly across a cut")
		}
	case <-timer.C:
		t.Fatal("streaming body read hung after the cut")
	}
	select {
	case <-serverSawCancel:
	case <-timer.C:
		t.Fatal("server handler never saw its request cancelled after the cut")
	}

	before := dials.Load()
	resp2, err := hc.Get("http://" + b.Addr() + "/ping")
	if err != nil {
		t.Fatalf("request after the cut: %v", err)
	}
	body, err := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if err != nil || string(body) != "pong" {
		t.Fatalf("after the cut: %q, %v", body, err)
	}
	if dials.Load() == before {
		t.Fatal("request after the cut reused a connection instead of dialling")
	}
}
