package signaling

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A hijacked upgrade gets the small buffers; bytes the client sent past
// its request are not lost (net/http's reader, holding them, is kept).
func TestSmallBufsHijack(t *testing.T) {
	for _, tc := range []struct {
		name     string
		extra    string // sent with the request
		wantRead int    // the reader's size
	}{
		{"nothing past the request", "", wsReadBuf},
		{"bytes past the request", "hello", 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				rsize, wsize int
				got          string
				err          error
			}
			res, hijacked := make(chan result, 1), make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				nc, brw, err := smallBufs{w}.Hijack()
				close(hijacked)
				if err != nil {
					res <- result{err: err}
					return
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
				got := make([]byte, len(tc.extra)+3)
				_, err = io.ReadFull(brw, got)
				if err == nil {
					_, _ = brw.WriteString("ok\n")
					err = brw.Flush()
				}
				res <- result{brw.Reader.Size(), brw.Writer.Size(), string(got), err}
			}))
			defer srv.Close()
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"+tc.extra); err != nil {
				t.Fatal(err)
			}
			<-hijacked // the rest comes after the hijack
			if _, err := io.WriteString(c, "end"); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			r := <-res
			if r.err != nil || err != nil {
				t.Fatalf("server: %v; client: %v", r.err, err)
			}
			if r.got != tc.extra+"end" || line != "ok\n" {
				t.Errorf("server read %q, client read %q", r.got, line)
			}
			if r.rsize != tc.wantRead || r.wsize != wsWriteBuf {
				t.Errorf("buffers %d and %d bytes, want %d and %d", r.rsize, r.wsize, tc.wantRead, wsWriteBuf)
			}
		})
	}
}
