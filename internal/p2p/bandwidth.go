package p2p

import (
	"time"

	flow "github.com/libp2p/go-flow-metrics"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// BandwidthCounter counts the host's traffic in total and by protocol, as
// libp2p's metrics.BandwidthCounter (which Kubo and IPFS Cluster use) but
// not by peer: a public peer meets thousands of peers, and that counter
// keeps a meter for each of them until trimmed. The by-peer methods report
// nothing.
type BandwidthCounter struct {
	totalIn, totalOut flow.Meter
	in, out           flow.MeterRegistry // by protocol
}

var _ metrics.Reporter = (*BandwidthCounter)(nil)

// LogSentMessage counts bytes sent outside any stream.
func (b *BandwidthCounter) LogSentMessage(size int64) { b.totalOut.Mark(uint64(size)) }

// LogRecvMessage counts bytes received outside any stream.
func (b *BandwidthCounter) LogRecvMessage(size int64) { b.totalIn.Mark(uint64(size)) }

// LogSentMessageStream counts bytes sent on a stream of proto.
func (b *BandwidthCounter) LogSentMessageStream(size int64, proto protocol.ID, _ peer.ID) {
	b.out.Get(string(proto)).Mark(uint64(size))
}

// LogRecvMessageStream counts bytes received on a stream of proto.
func (b *BandwidthCounter) LogRecvMessageStream(size int64, proto protocol.ID, _ peer.ID) {
	b.in.Get(string(proto)).Mark(uint64(size))
}

// GetBandwidthForPeer reports nothing: peers are not counted.
func (b *BandwidthCounter) GetBandwidthForPeer(peer.ID) metrics.Stats { return metrics.Stats{} }

// GetBandwidthByPeer reports nothing: peers are not counted.
func (b *BandwidthCounter) GetBandwidthByPeer() map[peer.ID]metrics.Stats {
	return map[peer.ID]metrics.Stats{}
}

// GetBandwidthForProtocol is the traffic of one protocol.
func (b *BandwidthCounter) GetBandwidthForProtocol(proto protocol.ID) metrics.Stats {
	return stats(b.in.Get(string(proto)).Snapshot(), b.out.Get(string(proto)).Snapshot())
}

// GetBandwidthTotals is the traffic outside streams.
func (b *BandwidthCounter) GetBandwidthTotals() metrics.Stats {
	return stats(b.totalIn.Snapshot(), b.totalOut.Snapshot())
}

// GetBandwidthByProtocol is the traffic of every protocol seen.
func (b *BandwidthCounter) GetBandwidthByProtocol() map[protocol.ID]metrics.Stats {
	out := map[protocol.ID]metrics.Stats{}
	b.in.ForEach(func(p string, m *flow.Meter) {
		s := m.Snapshot()
		st := out[protocol.ID(p)]
		st.TotalIn, st.RateIn = int64(s.Total), s.Rate
		out[protocol.ID(p)] = st
	})
	b.out.ForEach(func(p string, m *flow.Meter) {
		s := m.Snapshot()
		st := out[protocol.ID(p)]
		st.TotalOut, st.RateOut = int64(s.Total), s.Rate
		out[protocol.ID(p)] = st
	})
	return out
}

// Reset clears every count.
func (b *BandwidthCounter) Reset() {
	b.totalIn.Reset()
	b.totalOut.Reset()
	b.in.Clear()
	b.out.Clear()
}

// TrimIdle forgets the protocols idle since the given time.
func (b *BandwidthCounter) TrimIdle(since time.Time) {
	b.in.TrimIdle(since)
	b.out.TrimIdle(since)
}

func stats(in, out flow.Snapshot) metrics.Stats {
	return metrics.Stats{TotalIn: int64(in.Total), TotalOut: int64(out.Total), RateIn: in.Rate, RateOut: out.Rate}
}
