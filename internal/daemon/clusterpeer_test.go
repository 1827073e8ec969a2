package daemon

import (
	"context"
	"net"
	"testing"
)

func ipNet(s string) net.Addr {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

// A cluster port bound to every interface is announced at an address a
// peer can dial, never at the wildcard (dialing [::] reaches whoever
// dials) nor at port 0.
func TestAnnounceNeverUnspecified(t *testing.T) {
	ctx := context.Background()
	for _, bound := range []string{"[::]:9096", "0.0.0.0:9096", "[::]:41234"} {
		_, boundPort, _ := net.SplitHostPort(bound)
		for _, join := range [][]string{nil, {"127.0.0.1:9096"}, {"/dns/node-a/tcp/9096"}} {
			got := announceAddr(ctx, bound, join)
			if _, port, _ := net.SplitHostPort(got); !dialable(got) || port != boundPort {
				t.Errorf("announceAddr(%s, %v) = %q, want an address a peer can dial, at port %s", bound, join, got, boundPort)
			}
		}
	}
	// Bound to one address: that one is announced (empty: the bound one).
	if got := announceAddr(ctx, "127.0.0.1:9096", []string{"127.0.0.1:1"}); got != "" {
		t.Errorf("announceAddr(127.0.0.1:9096) = %q, want the bound address", got)
	}

	for _, c := range []struct {
		addrs []net.Addr
		want  string
	}{
		{[]net.Addr{ipNet("127.0.0.1/8"), ipNet("::1/128"), ipNet("fe80::1/64"), ipNet("192.0.2.2/24")}, "192.0.2.2:9096"},
		{[]net.Addr{ipNet("127.0.0.1/8"), ipNet("fd00::2/64")}, "[fd00::2]:9096"},
		// No address beyond the host: loopback, for the peers on it.
		{[]net.Addr{ipNet("127.0.0.1/8"), ipNet("::1/128"), ipNet("fe80::1/64")}, "127.0.0.1:9096"},
		{nil, "127.0.0.1:9096"},
	} {
		if got := interfaceAnnounce(c.addrs, "9096"); got != c.want {
			t.Errorf("interfaceAnnounce(%v) = %q, want %q", c.addrs, got, c.want)
		}
	}
}

func TestDialable(t *testing.T) {
	for addr, want := range map[string]bool{
		"10.0.0.5:9096": true, "node-a:9096": true, "[fd00::2]:9096": true,
		"0.0.0.0:9096": false, "[::]:9096": false, ":9096": false, "10.0.0.5:0": false, "node-a": false,
	} {
		if got := dialable(addr); got != want {
			t.Errorf("dialable(%q) = %v, want %v", addr, got, want)
		}
	}
}
