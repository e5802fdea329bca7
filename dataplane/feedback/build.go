package feedback

import (
	"encoding/binary"

	"github.com/pion/rtcp"
)

// appendHeader appends an RTCP header (V=2, no padding) with a length of
// words 32-bit words after the header.
func appendHeader(dst []byte, count, typ uint8, words int) []byte {
	return append(dst, 0x80|count&0x1f, typ, byte(words>>8), byte(words))
}

func appendU32(dst []byte, v uint32) []byte {
	return binary.BigEndian.AppendUint32(dst, v)
}

// AppendNACK appends a generic NACK (RTPFB FMT 1, RFC 4585 §6.2.1) asking
// mediaSSRC's sender to resend seqs, packed into PID+BLP pairs: each pair
// covers a sequence number and the 16 after it. seqs should be in ascending
// (wrap-aware) order, as NACKTracker.AppendMissing returns them; other orders
// are encoded correctly but less compactly, and duplicates are dropped when
// adjacent. With no seqs it returns dst unchanged.
func AppendNACK(dst []byte, senderSSRC, mediaSSRC uint32, seqs []uint16) []byte {
	if len(seqs) == 0 {
		return dst
	}
	start := len(dst)
	dst = appendHeader(dst, FormatNACK, TypeRTPFB, 0)
	dst = appendU32(dst, senderSSRC)
	dst = appendU32(dst, mediaSSRC)
	pairs := 0
	for i := 0; i < len(seqs); {
		pid := seqs[i]
		var blp uint16
		for i++; i < len(seqs); i++ {
			d := seqs[i] - pid
			if d > 16 {
				break
			}
			if d > 0 {
				blp |= 1 << (d - 1)
			}
		}
		dst = binary.BigEndian.AppendUint16(dst, pid)
		dst = binary.BigEndian.AppendUint16(dst, blp)
		pairs++
	}
	binary.BigEndian.PutUint16(dst[start+2:], uint16(2+pairs))
	return dst
}

// AppendPLI appends a picture loss indication (PSFB FMT 1, RFC 4585
// §6.3.1) for mediaSSRC.
func AppendPLI(dst []byte, senderSSRC, mediaSSRC uint32) []byte {
	dst = appendHeader(dst, FormatPLI, TypePSFB, 2)
	dst = appendU32(dst, senderSSRC)
	return appendU32(dst, mediaSSRC)
}

// AppendFIR appends a full intra request (PSFB FMT 4, RFC 5104 §4.3.1) for
// mediaSSRC. seqNr is the request's command sequence number, which the
// requester increments for every new request to the same source.
func AppendFIR(dst []byte, senderSSRC, mediaSSRC uint32, seqNr uint8) []byte {
	dst = appendHeader(dst, FormatFIR, TypePSFB, 4)
	dst = appendU32(dst, senderSSRC)
	dst = appendU32(dst, 0) // media source SSRC is unused in FIR
	dst = appendU32(dst, mediaSSRC)
	return append(dst, seqNr, 0, 0, 0)
}

// AppendREMB appends a receiver estimated maximum bitrate message (PSFB FMT
// 15, draft-alvestrand-rmcat-remb-03) capping the senders of ssrcs (at most
// 255) to bps bits per second. The bitrate is encoded as an 18-bit mantissa
// and a 6-bit exponent, rounded down.
func AppendREMB(dst []byte, senderSSRC uint32, bps uint64, ssrcs []uint32) []byte {
	if len(ssrcs) > 255 {
		ssrcs = ssrcs[:255]
	}
	var exp uint8
	for bps >= 1<<18 {
		bps >>= 1
		exp++
	}
	dst = appendHeader(dst, FormatREMB, TypePSFB, 4+len(ssrcs))
	dst = appendU32(dst, senderSSRC)
	dst = appendU32(dst, 0) // media source SSRC is unused in REMB
	dst = append(dst, 'R', 'E', 'M', 'B', byte(len(ssrcs)), exp<<2|byte(bps>>16), byte(bps>>8), byte(bps))
	for _, s := range ssrcs {
		dst = appendU32(dst, s)
	}
	return dst
}

// appendReportBlock appends one reception report block (RFC 3550 §6.4.1).
// TotalLost is written as its low 24 bits (two's complement of a negative
// count, as ReceiverStats produces).
func appendReportBlock(dst []byte, r *rtcp.ReceptionReport) []byte {
	dst = appendU32(dst, r.SSRC)
	dst = appendU32(dst, uint32(r.FractionLost)<<24|r.TotalLost&0xffffff)
	dst = appendU32(dst, r.LastSequenceNumber)
	dst = appendU32(dst, r.Jitter)
	dst = appendU32(dst, r.LastSenderReport)
	return appendU32(dst, r.Delay)
}

// AppendReceiverReport appends receiver reports (RFC 3550 §6.4.2) from
// senderSSRC carrying reports. More than 31 reports are split over several
// RR packets; with none it appends one empty RR (valid as the first packet
// of a compound).
func AppendReceiverReport(dst []byte, senderSSRC uint32, reports []rtcp.ReceptionReport) []byte {
	for {
		n := min(len(reports), 31)
		dst = appendHeader(dst, uint8(n), TypeRR, 1+6*n)
		dst = appendU32(dst, senderSSRC)
		for i := range reports[:n] {
			dst = appendReportBlock(dst, &reports[i])
		}
		reports = reports[n:]
		if len(reports) == 0 {
			return dst
		}
	}
}

// AppendSDESCNAME appends a source description (RFC 3550 §6.5) with one
// chunk: ssrc and its CNAME item (at most 255 bytes; longer is cut). A
// full compound RTCP packet is an SR or RR followed by this.
func AppendSDESCNAME(dst []byte, ssrc uint32, cname string) []byte {
	if len(cname) > 255 {
		cname = cname[:255]
	}
	// SSRC, CNAME type and length, text, then 1–4 zero bytes ending the
	// item list and padding the chunk to a 32-bit boundary.
	chunk := 4 + 2 + len(cname)
	chunk += 4 - chunk%4
	dst = appendHeader(dst, 1, TypeSDES, chunk/4)
	dst = appendU32(dst, ssrc)
	dst = append(dst, 1, byte(len(cname)))
	dst = append(dst, cname...)
	for n := 4 + 2 + len(cname); n < chunk; n++ {
		dst = append(dst, 0)
	}
	return dst
}
