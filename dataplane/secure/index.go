package secure

// half is half of the 16-bit sequence number space, the boundary between
// "late" and "ahead" in RFC 3711 Appendix A.
const half = 1 << 15

// Index is the sender's rollover counter (ROC) for one outgoing SSRC, RFC
// 3711 §3.3.1: the SRTP packet index of a packet is ROC<<16 | SEQ, and the
// ROC counts how often SEQ has wrapped from 65535 to 0.
//
// Sequence numbers come from a forwarder: mostly one more than the last,
// sometimes a few behind (a retransmission or a reordered packet), after a
// pause possibly ahead by a gap. Index estimates the ROC of each one exactly
// as an RFC 3711 Appendix A receiver (and pion's srtp.Context, sending or
// receiving) does, so the two always agree on the packet index:
//
//   - a number up to 2^15 ahead of the highest sent is new: the state moves
//     to it, and if it wrapped past 65535 the ROC goes up by one;
//   - a number up to 2^15 behind the highest sent is late: it gets the ROC
//     it was sent under (one less than now if it lies before the last wrap)
//     and the state does not move;
//   - exactly 2^15 either way is decided as Appendix A decides it, and a jump
//     of more than 2^15 is indistinguishable from a late packet, for the
//     receiver as much as for Index; forwarders keep their rewritten numbers
//     contiguous, so neither arises.
//
// The zero value has sent nothing; its first packet gets ROC 0. An Index is
// owned by the goroutine that sends on its SSRC and has no locking.
type Index struct {
	roc     uint32 // ROC of the highest packet sent
	seq     uint16 // sequence number of the highest packet sent
	started bool   // a packet has been sent
}

// Next returns the ROC to seal the packet with sequence number seq with, and
// records seq as sent. It does not allocate.
func (x *Index) Next(seq uint16) uint32 {
	if !x.started {
		x.started, x.seq = true, seq
		return x.roc
	}
	last := x.seq
	if last < half {
		if int(seq)-int(last) > half {
			// More than half the space ahead means behind, across the
			// last wrap. With ROC 0 there is no earlier wrap, so it is a
			// jump ahead (the Appendix A estimate with the index still
			// below 2^15, and what pion does).
			if x.roc == 0 {
				x.seq = seq
				return 0
			}
			return x.roc - 1
		}
	} else if int(seq) < int(last)-half {
		// More than half the space behind means ahead, across a wrap.
		x.roc++
		x.seq = seq
		return x.roc
	}
	if seq > last {
		x.seq = seq
	}
	return x.roc
}
