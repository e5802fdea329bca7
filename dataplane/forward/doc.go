// Package forward holds the forwarding core's decisions that are pure
// functions of what was sent, what came back and the time passed in: the
// bandwidth estimate of each subscriber's transport and the choice of
// simulcast layers that fits in it. It does no I/O and takes no locks; each
// value is owned by the media loop that owns the transport.
package forward
