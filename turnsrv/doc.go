// Package turnsrv is Hayate's embedded TURN server (RFC 8656) on pion/turn:
// one UDP socket and one TCP listener on turn_port, relays allocated from a
// port range on the advertised address.
//
// Credentials are per connection and stateless, in the style of the TURN
// REST API: the username is "<expiry unix seconds>:<connection_id>" and the
// password is base64(HMAC-SHA1(secret, username)) with a secret generated at
// start. An allocation request is admitted only while the expiry lies ahead
// and the connection is still alive (the Alive callback), so credentials
// are worth nothing once their connection has ended.
//
// Concurrency: Credentials, URLs and Stats may be called from any
// goroutine; pion/turn runs its own goroutines, which Close waits for.
package turnsrv
