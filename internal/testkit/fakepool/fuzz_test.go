package fakepool

import (
	"encoding/json"
	"net"
	"testing"
	"time"
)

// discardConn is a net.Conn that swallows writes, so a session can be
// driven without a socket.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)       { return len(b), nil }
func (discardConn) SetWriteDeadline(time.Time) error  { return nil }
func (discardConn) RemoteAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (discardConn) Close() error                      { return nil }
func (discardConn) SetReadDeadline(t time.Time) error { return nil }
func (discardConn) LocalAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (discardConn) SetDeadline(t time.Time) error     { return nil }
func (discardConn) Read(b []byte) (n int, err error)  { return 0, net.ErrClosed }

// FuzzHandle feeds arbitrary requests to a session: whatever a client
// sends, the pool answers or hangs up, and never panics.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"method":"login","params":{"login":"w","pass":"x","agent":"a"}}`,
		`{"id":2,"method":"submit","params":{"job_id":"j","nonce":"00","result":"ff"}}`,
		`{"id":1,"method":"mining.subscribe","params":["a"]}`,
		`{"id":2,"method":"mining.authorize","params":["w","x"]}`,
		`{"id":3,"method":"mining.submit","params":["w","j","n","t","x"]}`,
		`{"id":null,"method":"keepalived","params":null}`,
		`{"id":1,"method":"mining.subscribe","params":[1,{},null]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		p := &Pool{shares: map[string]int{}, conns: map[net.Conn]struct{}{}, changed: make(chan struct{})}
		c := discardConn{}
		s := &session{p: p, c: c, enc: json.NewEncoder(c), stop: make(chan struct{})}
		defer close(s.stop)
		var req request
		if json.Unmarshal([]byte(line), &req) != nil {
			return
		}
		s.handle(req)
		s.handle(req) // a repeated request (second login, second submit)
	})
}
