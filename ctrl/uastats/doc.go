// Package uastats keeps the last RTC stats report each client sent: the
// user-agent statistics of Sora's ListUserAgentStats,
// ListChannelUserAgentStats and GetUserAgentStats (Sora_20211215).
//
// # Model
//
// A client sends its browser's getStats() result, an array of RTCStats
// objects, in two ways (spec/signaling.md): as the stats member of a
// WebSocket pong when the server's ping had stats: true (every 5 s), and
// as the reports member of a stats message on the "stats" DataChannel
// (answering the req-stats the server sends every 30 s). Either way the
// signaling code hands the array to Store.Record with the connection's ids
// and the time it arrived; the Store keeps the last one per connection id,
// replacing the previous, until Store.Forget (the connection left).
//
// A report must be a JSON array (white space around it is allowed) of at
// most Config.MaxReportBytes bytes. Anything else is refused with
// ErrTooLarge or ErrNotArray and counted; the previous report of the
// connection stays. A refused report is the client's mistake, not a reason
// to end its connection: callers log it at debug level and go on. The
// Store keeps a compact copy, so the caller's buffer is free after Record
// returns: Record checks the JSON grammar itself in one loop over the
// bytes (it accepts what encoding/json.Valid accepts) and counts the white
// space outside strings; a report without any, as JSON.stringify and
// encoding/json write it, is copied as is, otherwise the copy leaves that
// white space out (inside strings it is kept). Either way the result is
// what json.Compact would make, at a few times its speed.
//
// The Store keeps that compact copy as an LZ4 block (pack.go): a report
// repeats the same member names in every object and shrinks 4-10 times (a
// pion client's 8 kB to 2.1 kB, a 40 kB report to 3.8 kB), which is what
// makes a browser's 20-50 kB affordable per connection; compressing costs
// 6-25 µs per report, 5 s apart per client, and nothing on the caller's
// stack. Get and List decode the reports they return, each into a slice of
// its own, byte for byte the compact copy.
// KeptBytes (and the gauge hayate_user_agent_stats_bytes) is what the
// kept reports take.
//
// Memory is bounded by the number of connections times
// Config.MaxReportBytes; callers must Forget every connection that leaves
// (a report recorded after Forget, from a message that raced the leave,
// stays until the next Forget of that id, which is why callers prefer to
// Forget after the connection can no longer deliver messages); Store.Prune
// with the registry's view of who is alive catches what slips through.
//
// # Concurrency
//
// Every method may be called from any goroutine. Record and Forget take
// the Store's mutex only to swap one map entry (the copy is made before),
// so they do not block on readers for long; Get and List decode the
// reports after releasing it.
package uastats
