package fakepool

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"
)

type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *Pool) *client {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(line + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads lines until one with a non-null id arrives (skipping notifications).
func (c *client) recv() map[string]any {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := c.r.ReadBytes('\n')
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			c.t.Fatalf("bad JSON %q: %v", line, err)
		}
		if m["id"] != nil {
			return m
		}
	}
}

func start(t *testing.T) *Pool {
	t.Helper()
	p, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestXMRDialect(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	c.send(`{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"4WALLET","pass":"x","agent":"XMRig/6.21.0"}}`)
	m := c.recv()
	res, _ := m["result"].(map[string]any)
	job, _ := res["job"].(map[string]any)
	if res["id"] == "" || job["algo"] != "rx/0" || job["job_id"] == "" || len(job["blob"].(string)) != 152 || job["target"] == "" {
		t.Fatalf("login result = %v", m)
	}
	c.send(`{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":"1","job_id":"a","nonce":"00000000","result":"ff"}}`)
	if r := c.recv()["result"].(map[string]any); r["status"] != "OK" {
		t.Fatalf("submit result = %v", r)
	}
	c.send(`{"id":3,"jsonrpc":"2.0","method":"keepalived","params":{"id":"1"}}`)
	if r := c.recv()["result"].(map[string]any); r["status"] != "KEEPALIVED" {
		t.Fatalf("keepalived result = %v", r)
	}
	l := p.Logins()
	if len(l) != 1 || l[0].User != "4WALLET" || l[0].Agent != "XMRig/6.21.0" || l[0].Dialect != DialectXMR || l[0].Pass != "x" {
		t.Fatalf("logins = %+v", l)
	}
	if p.Shares("4WALLET") != 1 || p.TotalShares() != 1 {
		t.Fatalf("shares = %d", p.Shares("4WALLET"))
	}
}

func TestXMRJobNotification(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	c.send(`{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"w"}}`)
	c.recv()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Method string `json:"method"`
		Params struct {
			Algo string `json:"algo"`
		} `json:"params"`
	}
	if err := json.Unmarshal(line, &m); err != nil || m.Method != "job" || m.Params.Algo != "rx/0" {
		t.Fatalf("notification %s: %v", line, err)
	}
}

func TestStratumDialect(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	c.send(`{"id":1,"method":"mining.subscribe","params":["cgminer/4.10"]}`)
	if m := c.recv(); m["result"] == nil || m["error"] != nil {
		t.Fatalf("subscribe = %v", m)
	}
	c.send(`{"id":2,"method":"mining.authorize","params":["wallet.rig1","pw"]}`)
	if m := c.recv(); m["result"] != true {
		t.Fatalf("authorize = %v", m)
	}
	// set_difficulty and notify follow the authorize reply.
	var methods []string
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(methods) < 2 {
		line, err := c.r.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(line, &m)
		methods = append(methods, m.Method)
	}
	if methods[0] != "mining.set_difficulty" || methods[1] != "mining.notify" {
		t.Fatalf("notifications = %v", methods)
	}
	c.send(`{"id":3,"method":"mining.submit","params":["wallet.rig1","job","00","5f000000","0000"]}`)
	if m := c.recv(); m["result"] != true {
		t.Fatalf("submit = %v", m)
	}
	l := p.Logins()
	if len(l) != 1 || l[0].User != "wallet.rig1" || l[0].Agent != "cgminer/4.10" || l[0].Dialect != DialectStratum {
		t.Fatalf("logins = %+v", l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitShares(ctx, "wallet.rig1", 1); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	c.send(`{"id":1,"method":"mining.submit","params":["w","j","n","t","x"]}`)
	if m := c.recv(); m["result"] != nil || m["error"] == nil {
		t.Fatalf("submit before authorize = %v", m)
	}
	c.send(`{"id":2,"method":"bogus","params":[]}`)
	if m := c.recv(); m["error"] == nil {
		t.Fatalf("unknown method = %v", m)
	}
	// Garbage ends the connection after an error reply.
	c.send(`{not json`)
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := c.r.ReadBytes('\n')
	if len(line) == 0 {
		t.Fatal("no parse error reply")
	}
	if _, err := c.r.ReadBytes('\n'); err == nil {
		t.Fatal("connection still open after a bad line")
	}
	if len(p.Logins()) != 0 {
		t.Fatalf("logins = %v", p.Logins())
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, a := range []string{"0.0.0.0:0", ":0", "192.0.2.1:3333", "example.com:3333", "nonsense"} {
		if p, err := Listen(a); err == nil {
			p.Close()
			t.Errorf("Listen(%q) succeeded", a)
		}
	}
	p, err := Listen("[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	p.Close()
}

func TestWaitLoginAndClose(t *testing.T) {
	p := start(t)
	done := make(chan error, 1)
	go func() {
		_, err := p.WaitLogin(context.Background(), "late")
		done <- err
	}()
	c := dial(t, p)
	c.send(`{"id":1,"method":"mining.authorize","params":["late","x"]}`)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.WaitLogin(ctx, "nobody"); err == nil {
		t.Fatal("WaitLogin for a missing user returned no error")
	}
	// Close with a client still connected must not hang.
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
	if _, err := p.WaitLogin(context.Background(), "nobody"); err == nil {
		t.Fatal("WaitLogin after Close returned no error")
	}
}
