package signaling

import (
	"bufio"
	"net"
	"net/http"
)

// Buffers of a hijacked signaling connection. net/http hands a hijacked
// connection a 4 KiB bufio.Reader and a 4 KiB bufio.Writer, which
// coder/websocket keeps for the connection's life: 8 KiB per client, most
// of an idle client's heap. Smaller ones do as well here: a frame payload
// at least as long as the reader's buffer (readFrame reads into 16 KiB)
// bypasses it, so the buffer holds frame headers and small frames; a
// message up to wsWriteBuf bytes with its header still goes out in one
// write, a longer one (an offer) in two.
const (
	wsReadBuf  = 512
	wsWriteBuf = 2048
)

// smallBufs wraps the ResponseWriter of an upgrade so that Hijack returns
// a bufio.ReadWriter with wsReadBuf and wsWriteBuf buffers.
type smallBufs struct{ http.ResponseWriter }

// Unwrap gives http.ResponseController the writer under this one.
func (w smallBufs) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack implements http.Hijacker. When the client has sent bytes past its
// request (it may not before the 101), they sit in net/http's reader,
// which is then kept as it is; so is a writer still holding bytes.
func (w smallBufs) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	r := brw.Reader
	if r.Buffered() == 0 {
		r = bufio.NewReaderSize(nc, wsReadBuf)
	}
	bw := brw.Writer
	if bw.Buffered() == 0 { // net/http has flushed the 101
		bw = bufio.NewWriterSize(nc, wsWriteBuf)
	}
	return nc, bufio.NewReadWriter(r, bw), nil
}
