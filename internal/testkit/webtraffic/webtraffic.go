// Package webtraffic makes ordinary encrypted traffic for tests of
// network detectors: an HTTPS server on a test address and clients that
// behave like browsers, downloads, API pollers, HTTP/2 connections kept
// idle with pings, server-sent events, chat, long polling and a wallet's
// header subscription. None of it is mining; a detector that flags it
// raises a false alarm. Everything stays on loopback or test addresses.
package webtraffic

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/testkit/fakepool"
)

// Profiles are the client behaviours Run knows.
var Profiles = []string{"browse", "download", "poll", "h2idle", "sse", "chat", "longpoll", "subscribe"}

// Server is a running HTTPS server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen serves HTTPS (HTTP/1.1 and HTTP/2) on addr, a test address.
func Listen(addr string) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("webtraffic: address %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !fakepool.TestAddress(ip.Unmap()) {
		return nil, fmt.Errorf("webtraffic: %q is not a test address", addr)
	}
	cert, err := fakepool.SelfSigned()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("webtraffic: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/page", page)
	mux.HandleFunc("/status", status)
	mux.HandleFunc("/events", events)
	mux.HandleFunc("/longpoll", longpoll)
	mux.HandleFunc("/chat", stream(chatServer))
	mux.HandleFunc("/subscribe", stream(subscribeServer))
	s := &Server{srv: &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}}, ln: ln}
	go s.srv.ServeTLS(ln, "", "")
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and its connections.
func (s *Server) Close() error { return s.srv.Close() }

// page sends ?size= bytes (a page, an image or a download).
func page(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("size"))
	n = min(max(n, 0), 1<<30)
	w.Header().Set("Content-Length", strconv.Itoa(n))
	buf := make([]byte, 32<<10)
	for n > 0 {
		k := min(n, len(buf))
		rand.Read(buf[:k]) // incompressible, like real media
		if _, err := w.Write(buf[:k]); err != nil {
			return
		}
		n -= k
	}
}

func status(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, `{"status":"ok","time":%q,"load":%.3f,"queue":%d}`, time.Now().UTC().Format(time.RFC3339Nano), mrand.Float64(), mrand.IntN(100))
}

// events pushes server-sent events of varying size at random times.
func events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(expDelay(3 * time.Second)):
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", strings.Repeat("x", 40+mrand.IntN(900))); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// longpoll answers after a wait, as a notification endpoint does.
func longpoll(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
		return
	case <-time.After(time.Duration(2+mrand.IntN(8)) * time.Second):
	}
	fmt.Fprintf(w, `{"events":[{"id":%d,"type":"update"}]}`, mrand.IntN(1e6))
}

// stream hijacks an HTTP/1.1 connection for a line protocol.
func stream(serve func(ctx context.Context, rw *bufio.ReadWriter, send func(string) error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "HTTP/1.1 only", http.StatusHTTPVersionNotSupported)
			return
		}
		c, rw, err := hj.Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: lines\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		wmu := make(chan struct{}, 1)
		send := func(s string) error {
			wmu <- struct{}{}
			defer func() { <-wmu }()
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := rw.WriteString(s + "\n"); err != nil {
				return err
			}
			return rw.Flush()
		}
		serve(ctx, rw, send)
	}
}

// chatServer acknowledges each message and relays others' messages of
// any length at random times.
func chatServer(ctx context.Context, rw *bufio.ReadWriter, send func(string) error) {
	go func() {
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(expDelay(4 * time.Second)):
				if send(`{"from":"peer","text":"`+strings.Repeat("m", 20+mrand.IntN(600))+`"}`) != nil {
					return
				}
			}
		}
	}()
	for {
		if _, err := rw.ReadString('\n'); err != nil {
			return
		}
		if send(`{"ack":true}`) != nil {
			return
		}
	}
}

// subscribeServer is a wallet server: it answers pings and pushes a block
// header now and then. Its shape is a miner's (the documented look-alike).
func subscribeServer(ctx context.Context, rw *bufio.ReadWriter, send func(string) error) {
	go func() {
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(expDelay(8 * time.Second)):
				if send(`{"method":"blockchain.headers.subscribe","params":[{"height":870000,"hex":"`+randHex(80)+`"}]}`) != nil {
					return
				}
			}
		}
	}()
	for {
		if _, err := rw.ReadString('\n'); err != nil {
			return
		}
		if send(`{"id":1,"result":null}`) != nil {
			return
		}
	}
}

// Client is one client of the server.
type Client struct {
	Profile string // one of Profiles
	Addr    string // the server's ip:port
	SNI     string // the server name sent
	// Dial, when set, opens the TCP connections (inside a test network
	// namespace, say); net.Dialer otherwise.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Run plays the client's profile until ctx ends.
func (c Client) Run(ctx context.Context) error {
	profile, addr := c.Profile, c.Addr
	if c.Dial == nil {
		c.Dial = (&net.Dialer{}).DialContext
	}
	conf := &tls.Config{ServerName: c.SNI, InsecureSkipVerify: true} // a test server's own certificate
	tr := &http.Transport{DialContext: c.Dial, TLSClientConfig: conf, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, ForceAttemptHTTP2: profile == "h2idle"}
	if profile == "h2idle" {
		tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 10 * time.Second, PingTimeout: 5 * time.Second}
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	base := "https://" + addr
	get := func(path string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	var err error
	switch profile {
	case "browse":
		for err == nil && sleep(time.Duration(1+mrand.IntN(8))*time.Second) {
			for range 1 + mrand.IntN(4) { // a page and what it pulls in
				if err = get(fmt.Sprintf("/page?size=%d", 2000+mrand.IntN(80000))); err != nil {
					break
				}
			}
		}
	case "download":
		err = get("/page?size=" + strconv.Itoa(64<<20))
		sleep(time.Hour)
	case "poll":
		for err == nil && sleep(3*time.Second) {
			err = get("/status")
		}
	case "h2idle":
		if err = get("/status"); err == nil {
			sleep(time.Hour) // the transport pings the idle connection
		}
	case "sse":
		err = get("/events")
	case "longpoll":
		for err == nil && ctx.Err() == nil {
			err = get("/longpoll")
		}
	case "chat":
		err = lines(ctx, c.Dial, addr, conf, "/chat", func() (time.Duration, string) {
			return expDelay(5 * time.Second), `{"text":"` + strings.Repeat("c", 10+mrand.IntN(500)) + `"}`
		})
	case "subscribe":
		err = lines(ctx, c.Dial, addr, conf, "/subscribe", func() (time.Duration, string) {
			return 3 * time.Second, `{"id":1,"method":"server.ping","params":[]}`
		})
	default:
		return fmt.Errorf("webtraffic: unknown profile %q", profile)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// lines opens a hijacked line stream and sends a message whenever next says.
func lines(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), addr string, conf *tls.Config, path string, next func() (time.Duration, string)) error {
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	c := tls.Client(raw, conf)
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: lines\r\nConnection: Upgrade\r\n\r\n", path, conf.ServerName)
	br := bufio.NewReader(c)
	if l, err := br.ReadString('\n'); err != nil || !strings.Contains(l, "101") {
		return fmt.Errorf("webtraffic: %s: no upgrade (%q, %v)", path, l, err)
	}
	go io.Copy(io.Discard, br)
	for {
		wait, m := next()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if _, err := io.WriteString(c, m+"\n"); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

func expDelay(mean time.Duration) time.Duration {
	return max(time.Duration(mrand.ExpFloat64()*float64(mean)), 50*time.Millisecond)
}

func randHex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 2*n)
	for i := range b {
		b[i] = digits[mrand.IntN(16)]
	}
	return string(b)
}
