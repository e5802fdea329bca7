// Package feedback reads and writes the RTCP of the media plane and keeps the
// per-stream state behind it (RFC 3550, RFC 4585, RFC 5104, draft-holmer
// transport-wide CC).
//
//   - Iter walks an incoming compound (or, with rtcp-rsize, lone) RTCP packet
//     in place and exposes the fields the SFU acts on: NACKed sequence
//     numbers, PLI/FIR targets, sender reports, reception reports, REMB,
//     and (Iter.TWCC, TWCCReader) the per-packet results of transport-wide
//     CC feedback from subscribers.
//   - ReceiverStats (RFC 3550 A.1, A.3, A.8) and NACKTracker keep what the
//     SFU tells a publisher about one upstream SSRC: receiver reports and
//     generic NACKs.
//   - SenderStats keeps what the SFU tells a subscriber about one downstream
//     stream: sender reports.
//   - TWCC wraps pion's twcc.Recorder for transport-wide congestion control
//     feedback to a publisher.
//   - AppendNACK, AppendPLI, AppendFIR, AppendREMB, AppendReceiverReport,
//     AppendSDESCNAME and SenderStats.AppendSenderReport write RTCP packets at the end of a
//     caller's buffer, in the style of append: with enough capacity they do
//     not allocate. Their output is plain RTCP, ready for SRTCP encryption.
//
// Time is always passed in as now, monotonic nanoseconds from an arbitrary
// origin that is the same for every call on one value; nothing here reads a
// clock. Wall-clock NTP timestamps are passed in where RTCP needs them (NTP).
//
// Concurrency: nothing in this package synchronises. Each ReceiverStats,
// NACKTracker, SenderStats and TWCC belongs to the loop that owns its stream;
// an Iter belongs to the goroutine that walks it. The Append functions are
// pure.
//
// Allocation: Iter and TWCCReader, every OnPacket/OnSent, Report,
// AppendMissing and the Append functions (given capacity) perform no
// allocation (NewXxx constructors allocate once). Only
// TWCC.AppendFeedback allocates, once per feedback interval.
package feedback
