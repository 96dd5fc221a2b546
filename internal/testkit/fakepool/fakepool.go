// Package fakepool is a mining pool for tests: it speaks the line-delimited
// JSON-RPC of Monero pools (XMRig's "login"/"job"/"submit") and of Stratum
// v1 ("mining.subscribe"/"mining.authorize"/"mining.submit") on a loopback
// address, and records who logged in and how many shares arrived, so a test
// can prove that a real program really talked to a pool before it scans.
// Nothing here mines or checks hashes: every share is accepted.
package fakepool

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Dialects a connection can speak; the pool tells them apart by the first
// method a client calls, so one listener serves both.
const (
	DialectXMR     = "xmr"
	DialectStratum = "stratum"
	// DialectEthStratum is NiceHash's EthereumStratum/1.0.0.
	DialectEthStratum = "ethstratum"
	// DialectEthProxy is eth-proxy (eth_submitLogin, eth_getWork, eth_submitWork).
	DialectEthProxy = "ethproxy"
)

// maxLine bounds one JSON-RPC line so a misbehaving client cannot make the
// pool buffer without limit.
const maxLine = 64 << 10

// Login is one successful login (XMR) or authorize (Stratum).
type Login struct {
	Dialect string
	User    string // wallet or wallet.worker
	Pass    string
	Agent   string // XMR "agent" or the Stratum subscribe user agent
	Remote  string // the client's ip:port as the pool saw it
	Time    time.Time
}

// Pool is a running fake pool.
type Pool struct {
	ln net.Listener

	mu      sync.Mutex
	logins  []Login
	shares  map[string]int // by user
	conns   map[net.Conn]struct{}
	closed  bool
	changed chan struct{} // closed and replaced whenever logins/shares change
	jobMean time.Duration // time between pushed jobs (2 s unless set)
	poisson bool          // jobs at random times with that mean, as blocks come

	wg sync.WaitGroup
}

// Listen starts a pool on addr, which must be a loopback address
// ("127.0.0.1:3333", "[::1]:0"): the pool is a test fixture and never
// listens where another machine could reach it.
func Listen(addr string) (*Pool, error) { return listen(addr, nil) }

func listen(addr string, tlsConf *tls.Config) (*Pool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("fakepool: address %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !TestAddress(ip.Unmap()) {
		return nil, fmt.Errorf("fakepool: address %q is not a loopback IP (or a private one inside a test network namespace)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fakepool: %w", err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	p := &Pool{ln: ln, shares: map[string]int{}, conns: map[net.Conn]struct{}{}, changed: make(chan struct{}), jobMean: 2 * time.Second}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// TestAddress allows loopback anywhere, and a private address (10/8,
// fd00::/8) only inside a test network namespace of the tests' own: there
// it can only be a test host across a veth, never a real pool. The fake
// miner dials by the same rule.
func TestAddress(ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	private := netip.MustParsePrefix("10.0.0.0/8").Contains(ip) || netip.MustParsePrefix("fd00::/8").Contains(ip)
	return private && InTestNetns()
}

// ListenTLS is Listen behind TLS with a fresh self-signed certificate, as
// pools offer on 443 and 5555 to look like web traffic.
func ListenTLS(addr string) (*Pool, error) {
	cert, err := SelfSigned()
	if err != nil {
		return nil, err
	}
	return listen(addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
}

// SelfSigned makes a throwaway certificate for localhost, for test servers.
func SelfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fakepool"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// SetJobInterval sets how often connections opened from now on get a new
// job: every mean, or at exponentially distributed times with that mean
// (poisson), as a pool pushes work when blocks are found.
func (p *Pool) SetJobInterval(mean time.Duration, poisson bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jobMean, p.poisson = mean, poisson
}

// Addr is the listening address (ip:port).
func (p *Pool) Addr() string { return p.ln.Addr().String() }

// Port is the listening port.
func (p *Pool) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Logins returns a copy of every login so far.
func (p *Pool) Logins() []Login {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Login(nil), p.logins...)
}

// Shares returns how many shares user submitted.
func (p *Pool) Shares(user string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shares[user]
}

// TotalShares returns the number of shares from every user.
func (p *Pool) TotalShares() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.shares {
		n += c
	}
	return n
}

// WaitLogin blocks until a login with this user arrives (or one already
// has), ctx ends, or the pool is closed.
func (p *Pool) WaitLogin(ctx context.Context, user string) (Login, error) {
	for {
		p.mu.Lock()
		for _, l := range p.logins {
			if l.User == user {
				p.mu.Unlock()
				return l, nil
			}
		}
		ch, closed := p.changed, p.closed
		p.mu.Unlock()
		if closed {
			return Login{}, errors.New("fakepool: closed")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Login{}, fmt.Errorf("fakepool %s: no login from %q: %w", p.Addr(), user, ctx.Err())
		}
	}
}

// WaitShares blocks until user has submitted at least n shares.
func (p *Pool) WaitShares(ctx context.Context, user string, n int) error {
	for {
		p.mu.Lock()
		got, ch, closed := p.shares[user], p.changed, p.closed
		p.mu.Unlock()
		if got >= n {
			return nil
		}
		if closed {
			return errors.New("fakepool: closed")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fakepool %s: %d of %d shares from %q: %w", p.Addr(), got, n, user, ctx.Err())
		}
	}
}

// Close stops listening, drops every client and waits for the handlers.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	close(p.changed)
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// notify wakes waiters; call with p.mu held.
func (p *Pool) notify() {
	if p.closed {
		return
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Pool) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

// request is a JSON-RPC request from either dialect (Stratum params are an
// array, XMR params an object; both are kept raw until the method is known).
type request struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type session struct {
	p       *Pool
	c       net.Conn
	enc     *json.Encoder
	dialect string
	agent   string
	user    string
	stop    chan struct{}
	wmu     sync.Mutex // the job pusher and the request handler both write
}

func (p *Pool) serve(c net.Conn) {
	s := &session{p: p, c: c, enc: json.NewEncoder(c), stop: make(chan struct{})}
	defer func() {
		close(s.stop)
		c.Close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		p.wg.Done()
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var req request
		if err := json.Unmarshal(line, &req); err != nil {
			s.send(map[string]any{"id": nil, "jsonrpc": "2.0", "error": map[string]any{"code": -32700, "message": "parse error"}})
			return
		}
		if !s.handle(req) {
			return
		}
	}
}

// send writes one JSON line; a deadline keeps a stuck client from holding Close.
func (s *session) send(v any) bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return s.enc.Encode(v) == nil
}

func (s *session) reply(id json.RawMessage, result any) bool {
	if s.dialect == DialectStratum || s.dialect == DialectEthStratum {
		return s.send(map[string]any{"id": id, "result": result, "error": nil})
	}
	return s.send(map[string]any{"id": id, "jsonrpc": "2.0", "error": nil, "result": result})
}

func (s *session) fail(id json.RawMessage, code int, msg string) bool {
	if s.dialect == DialectStratum || s.dialect == DialectEthStratum {
		return s.send(map[string]any{"id": id, "result": nil, "error": []any{code, msg, nil}})
	}
	return s.send(map[string]any{"id": id, "jsonrpc": "2.0", "error": map[string]any{"code": code, "message": msg}})
}

func (s *session) handle(req request) bool {
	switch req.Method {
	case "login":
		if s.dialect == "" {
			s.dialect = DialectXMR
		}
		var lp struct {
			Login string   `json:"login"`
			Pass  string   `json:"pass"`
			Agent string   `json:"agent"`
			Algo  []string `json:"algo"`
		}
		if err := json.Unmarshal(req.Params, &lp); err != nil || lp.Login == "" {
			return s.fail(req.ID, -1, "invalid login params")
		}
		s.user, s.agent = lp.Login, lp.Agent
		s.record(lp.Pass)
		ok := s.reply(req.ID, map[string]any{"id": randHex(8), "job": xmrJob(), "extensions": []string{"algo", "keepalive"}, "status": "OK"})
		if ok {
			go s.pushJobs()
		}
		return ok
	case "submit":
		if s.user == "" {
			return s.fail(req.ID, -1, "unauthenticated")
		}
		s.share()
		return s.reply(req.ID, map[string]any{"status": "OK"})
	case "keepalived":
		return s.reply(req.ID, map[string]any{"status": "KEEPALIVED"})
	case "getjob":
		return s.reply(req.ID, xmrJob())
	case "mining.subscribe":
		if s.dialect == "" {
			s.dialect = DialectStratum
		}
		var params []any
		_ = json.Unmarshal(req.Params, &params)
		if len(params) > 0 {
			if a, ok := params[0].(string); ok {
				s.agent = a
			}
		}
		sub := randHex(8)
		if len(params) > 1 && params[1] == "EthereumStratum/1.0.0" {
			s.dialect = DialectEthStratum
			return s.reply(req.ID, []any{[]any{"mining.notify", sub, "EthereumStratum/1.0.0"}, randHex(2)})
		}
		return s.reply(req.ID, []any{[]any{[]any{"mining.set_difficulty", sub}, []any{"mining.notify", sub}}, randHex(4), 4})
	case "mining.authorize":
		if s.dialect == "" {
			s.dialect = DialectStratum
		}
		var params []string
		if err := json.Unmarshal(req.Params, &params); err != nil || len(params) == 0 || params[0] == "" {
			return s.fail(req.ID, 24, "invalid authorize params")
		}
		s.user = params[0]
		pass := ""
		if len(params) > 1 {
			pass = params[1]
		}
		s.record(pass)
		if !s.reply(req.ID, true) {
			return false
		}
		if !s.send(map[string]any{"id": nil, "method": "mining.set_difficulty", "params": []any{1}}) {
			return false
		}
		ok := s.send(s.notify(true))
		if ok {
			go s.pushJobs()
		}
		return ok
	case "mining.submit":
		if s.user == "" {
			return s.fail(req.ID, 24, "unauthorized worker")
		}
		s.share()
		return s.reply(req.ID, true)
	case "mining.extranonce.subscribe":
		return s.reply(req.ID, true)
	case "eth_submitLogin":
		s.dialect = DialectEthProxy
		var params []string
		if err := json.Unmarshal(req.Params, &params); err != nil || len(params) == 0 || params[0] == "" {
			return s.fail(req.ID, -1, "invalid login params")
		}
		s.user = params[0]
		pass := ""
		if len(params) > 1 {
			pass = params[1]
		}
		s.record(pass)
		ok := s.reply(req.ID, true)
		if ok {
			go s.pushJobs()
		}
		return ok
	case "eth_getWork":
		return s.reply(req.ID, ethWork())
	case "eth_submitWork":
		if s.user == "" {
			return s.fail(req.ID, -1, "unauthenticated")
		}
		s.share()
		return s.reply(req.ID, true)
	case "eth_submitHashrate":
		return s.reply(req.ID, true)
	default:
		return s.fail(req.ID, -32601, "method not found: "+req.Method)
	}
}

// notify is a mining.notify in the session's dialect.
func (s *session) notify(clean bool) map[string]any {
	if s.dialect == DialectEthStratum {
		// EthereumStratum/1.0.0: job id, seed hash, header hash, clean.
		return map[string]any{"id": nil, "method": "mining.notify", "params": []any{randHex(4), randHex(32), randHex(32), clean}}
	}
	return stratumNotify(clean)
}

// ethWork is eth_getWork's answer: header hash, seed hash, boundary.
func ethWork() []string {
	return []string{"0x" + randHex(32), "0x" + randHex(32), "0x00000000ffff" + strings.Repeat("0", 52)}
}

func (s *session) record(pass string) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.logins = append(s.p.logins, Login{Dialect: s.dialect, User: s.user, Pass: pass, Agent: s.agent, Remote: s.c.RemoteAddr().String(), Time: time.Now()})
	s.p.notify()
}

func (s *session) share() {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.shares[s.user]++
	s.p.notify()
}

// pushJobs sends a new job now and then, like a pool after each block.
func (s *session) pushJobs() {
	s.p.mu.Lock()
	mean, poisson := s.p.jobMean, s.p.poisson
	s.p.mu.Unlock()
	delay := func() time.Duration {
		if !poisson {
			return mean
		}
		return max(time.Duration(mrand.ExpFloat64()*float64(mean)), mean/20)
	}
	t := time.NewTimer(delay())
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			t.Reset(delay())
			var ok bool
			switch s.dialect {
			case DialectStratum, DialectEthStratum:
				ok = s.send(s.notify(false))
			case DialectEthProxy:
				// eth-proxy pushes new work as an unsolicited result.
				ok = s.send(map[string]any{"id": 0, "jsonrpc": "2.0", "result": ethWork()})
			default:
				ok = s.send(map[string]any{"jsonrpc": "2.0", "method": "job", "params": xmrJob()})
			}
			if !ok {
				return
			}
		}
	}
}

func xmrJob() map[string]any {
	// A RandomX hashing blob is 76 bytes; its content is random here.
	return map[string]any{"blob": randHex(76), "job_id": randHex(8), "target": "b88d0600", "algo": "rx/0", "height": 3000000, "seed_hash": randHex(32)}
}

func stratumNotify(clean bool) map[string]any {
	return map[string]any{"id": nil, "method": "mining.notify", "params": []any{
		randHex(4), randHex(32), randHex(40), randHex(40), []string{}, "20000000", "1d00ffff", fmt.Sprintf("%08x", time.Now().Unix()), clean,
	}}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
