// Package turnsrv is Hayate's embedded TURN server (RFC 8656) on pion/turn:
// one UDP socket and one TCP listener on turn_port, with a certificate a
// TLS listener on turn_tls_port too, relays allocated from a port range on
// the advertised address.
//
// TCP and TLS streams pass through a framing watcher (tcpframe.go) on their
// way to pion/turn: a connection must complete its first frame within 10 s
// of connecting (TLS handshake included), and one whose stream holds
// anything but STUN and ChannelData messages is closed and counted
// (total_received_invalid_turn_tcp_packet).
//
// Credentials are per connection and stateless, in the style of the TURN
// REST API: the username is "<expiry unix seconds>:<connection_id>" and the
// password is base64(HMAC-SHA1(secret, username)) with a secret generated at
// start. An allocation request is admitted only while the expiry lies ahead
// and the connection is still alive (the Alive callback), so credentials
// are worth nothing once their connection has ended.
//
// Concurrency: Credentials, URLs, Stats and Counters may be called from any
// goroutine; pion/turn runs its own goroutines, which Close waits for.
package turnsrv
