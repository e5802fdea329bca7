package cluster

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// maxNameBytes bounds a node name (and a channel_id forwarded by name).
const maxNameBytes = 255

// nodeAddr is the host:port of the cluster listener of the node called
// nodeName ("name@host" or "name@host:port"); a name without a port uses
// defaultPort (cluster_port, the same on every node).
func nodeAddr(nodeName string, defaultPort int) (string, error) {
	host, port, err := splitNodeName(nodeName)
	if err != nil {
		return "", err
	}
	if port == 0 {
		port = defaultPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// splitNodeName returns the host and the port (0 when not given) of a node
// name. The name part holds letters, digits, '-', '_' and '.'; the host is
// an IP address or a DNS name, IPv6 in brackets when a port follows.
func splitNodeName(nodeName string) (host string, port int, err error) {
	if len(nodeName) > maxNameBytes {
		return "", 0, fmt.Errorf("%w: node name %.40q… is %d bytes long (at most %d)", ErrBadNodeName, nodeName, len(nodeName), maxNameBytes)
	}
	name, rest, ok := strings.Cut(nodeName, "@")
	if !ok || name == "" || rest == "" {
		return "", 0, fmt.Errorf("%w: %q is not name@host or name@host:port", ErrBadNodeName, nodeName)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return "", 0, fmt.Errorf("%w: %q has %q in its name part", ErrBadNodeName, nodeName, r)
		}
	}
	host = rest
	if h, p, err := net.SplitHostPort(rest); err == nil {
		n, perr := strconv.Atoi(p)
		if perr != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("%w: %q has port %q (want 1-65535)", ErrBadNodeName, nodeName, p)
		}
		host, port = h, n
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
	}
	if host == "" || strings.ContainsAny(host, "@/ \t") {
		return "", 0, fmt.Errorf("%w: %q has no usable host", ErrBadNodeName, nodeName)
	}
	return host, port, nil
}
