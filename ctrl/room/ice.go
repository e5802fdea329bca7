package room

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
)

// TURNOptions narrow or rename one connection's TURN URLs in
// offer.config.iceServers (the auth webhook's turn_* payouts). The zero
// value keeps the URLs Config.ICEServers gives.
type TURNOptions struct {
	// FQDN replaces the host of every turn: URL (turn_fqdn), TLSFQDN that
	// of every turns: URL (turn_tls_fqdn); the ports stay. "" keeps the
	// host.
	FQDN, TLSFQDN string
	// TCPOnly drops the URLs over UDP, keeping TURN over TCP and over TLS
	// (turn_tcp_only). TLSOnly keeps only the turns: URLs (turn_tls_only).
	// A server entry left without URL is dropped.
	TCPOnly, TLSOnly bool
}

// maxHostBytes is the longest DNS name (RFC 1035 §2.3.4).
const maxHostBytes = 253

// validateICE checks the per-connection ICE settings of a join request.
func validateICE(req *JoinRequest) error {
	switch req.ICETransportPolicy {
	case "", "all", "relay":
	default:
		return fmt.Errorf("%w: ice_transport_policy %q (want all or relay)", ErrInvalidRequest, req.ICETransportPolicy)
	}
	for _, h := range []struct{ field, v string }{{"turn_fqdn", req.TURN.FQDN}, {"turn_tls_fqdn", req.TURN.TLSFQDN}} {
		if h.v != "" && !validHost(h.v) {
			return fmt.Errorf("%w: %s %q is not a host name or IPv4 address", ErrInvalidRequest, h.field, h.v)
		}
	}
	return nil
}

// validHost accepts a DNS name or an IPv4 address: letters, digits, '-'
// and '.', at most 253 bytes. Anything that could break the URL (':', '/',
// '?', '@', spaces) is refused.
func validHost(h string) bool {
	if len(h) > maxHostBytes {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// apply returns servers with the options applied; servers is not changed.
// The zero TURNOptions returns servers as is.
func (o TURNOptions) apply(servers []ICEServer) []ICEServer {
	if o == (TURNOptions{}) {
		return servers
	}
	out := make([]ICEServer, 0, len(servers))
	for _, s := range servers {
		var urls []string
		for _, u := range s.URLs {
			if u, ok := o.url(u); ok {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			s.URLs = urls
			out = append(out, s)
		}
	}
	return out
}

// url applies the options to one URL of the forms of RFC 7065
// ("turn:host:port?transport=udp", "turns:host:port?transport=tcp"); false
// drops it. URLs of other schemes (stun:) are kept as they are unless
// TCPOnly or TLSOnly is set.
func (o TURNOptions) url(u string) (string, bool) {
	scheme, rest, ok := strings.Cut(u, ":")
	if !ok || (scheme != "turn" && scheme != "turns") {
		return u, !o.TCPOnly && !o.TLSOnly
	}
	tls := scheme == "turns"
	hostport, query, _ := strings.Cut(rest, "?")
	tcp := tls || strings.Contains(query, "transport=tcp")
	if (o.TLSOnly && !tls) || (o.TCPOnly && !tcp) {
		return "", false
	}
	host := o.FQDN
	if tls {
		host = o.TLSFQDN
	}
	if host == "" {
		return u, true
	}
	if _, port, err := net.SplitHostPort(hostport); err == nil {
		hostport = net.JoinHostPort(host, port)
	} else {
		hostport = host
	}
	u = scheme + ":" + hostport
	if query != "" {
		u += "?" + query
	}
	return u, true
}

// nonNull returns nil for an absent or JSON null value, else v.
func nonNull(v json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(v)) == 0 || string(bytes.TrimSpace(v)) == "null" {
		return nil
	}
	return v
}
