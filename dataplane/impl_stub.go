package dataplane

import "net/netip"

// Temporary stand-in so the control plane compiles while the loop is written.
type plane struct{ fingerprint string }
type transport struct{ local LocalParams }

func newPlane(cfg Config) (*plane, error)                         { return &plane{}, nil }
func (p *plane) candidates() []Candidate                          { return nil }
func (p *plane) localAddr() netip.AddrPort                        { return netip.AddrPort{} }
func (p *plane) close() error                                     { return nil }
func (p *plane) newTransport(TransportConfig) (*transport, error) { return &transport{}, nil }
func (t *transport) setRemote(RemoteParams) error                 { return nil }
func (t *transport) addUpstream(Upstream) error                   { return nil }
func (t *transport) removeUpstream(string)                        {}
func (t *transport) addDownstream(Downstream) error               { return nil }
func (t *transport) removeDownstream(string)                      {}
func (t *transport) requestKeyFrame(string)                       {}
func (t *transport) stats() TransportStats                        { return TransportStats{} }
func (t *transport) close(error)                                  {}
