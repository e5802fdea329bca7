package integration

import (
	"slices"
	"strings"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// dropper is an interceptor that loses one received video packet: the
// nth packet of the first video media stream (not RTX) it is bound to. Put it
// before the NACK generator in the registry so the generator never sees the
// packet and asks for it again.
type dropper struct {
	interceptor.NoOp
	nth int

	mu      sync.Mutex
	bound   bool // a video stream is taken
	count   int
	dropped *rtp.Packet // the lost packet, once lost
	lost    chan struct{}
	nacks   int // NACK entries the client sent for the lost packet
}

func newDropper(nth int) *dropper { return &dropper{nth: nth, lost: make(chan struct{})} }

// NewInterceptor makes d its own factory: one client, one dropper.
func (d *dropper) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

func (d *dropper) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	mime := strings.ToLower(info.MimeType)
	if !strings.HasPrefix(mime, "video/") || mime == "video/rtx" {
		return reader
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bound {
		return reader
	}
	d.bound = true
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := reader.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			d.mu.Lock()
			d.count++
			drop := d.count == d.nth && d.dropped == nil
			if drop {
				p := &rtp.Packet{}
				if uerr := p.Unmarshal(append([]byte(nil), b[:n]...)); uerr != nil {
					drop = false
				} else {
					d.dropped = p
					close(d.lost)
				}
			}
			d.mu.Unlock()
			if !drop {
				return n, attr, nil
			}
		}
	})
}

// BindRTCPWriter counts the client's NACKs for the lost packet.
func (d *dropper) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		d.mu.Lock()
		if d.dropped != nil {
			for _, p := range pkts {
				if n, ok := p.(*rtcp.TransportLayerNack); ok && n.MediaSSRC == d.dropped.SSRC {
					for _, pair := range n.Nacks {
						if slices.Contains(pair.PacketList(), d.dropped.SequenceNumber) {
							d.nacks++
						}
					}
				}
			}
		}
		d.mu.Unlock()
		return w.Write(pkts, a)
	})
}

func (d *dropper) nackCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nacks
}

func (d *dropper) droppedPacket() *rtp.Packet {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}
