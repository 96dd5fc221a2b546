// Command fakeminer is a stand-in for a CPU miner in minerguard's tests. It
// behaves like XMRig where a scanner can see it: XMRig's flags and config
// file, a Monero (login/job/submit) or Stratum v1 conversation with a pool,
// busy threads, a chosen process name, a binary run from memory. It never
// hashes anything: shares are random hex, and it connects only to loopback
// addresses (the pool is internal/testkit/fakepool), refusing any other.
//
//	fakeminer -o stratum+tcp://127.0.0.1:3333 -u WALLET --threads 1
//	fakeminer -c config.json --proto stratum
//	fakeminer                        (reads ./config.json like XMRig)
package main

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minerguard/minerguard/internal/testkit/fakepool"
)

// agent is sent in the XMR login and the Stratum subscribe, as XMRig does.
const agent = "fakeminer/1.0 (XMRig-compatible; minerguard test rig)"

type options struct {
	url, user, pass, config, proto, comm string
	sni                                  string
	tls                                  bool
	threads, hint, donate                int
	memfd                                bool
	shareEvery, maxRuntime               time.Duration
	poisson                              bool
}

func main() {
	if err := run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "fakeminer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var o options
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.StringVar(&o.url, "o", "", "pool URL (stratum+tcp://127.0.0.1:3333 or 127.0.0.1:3333); loopback only")
	fs.StringVar(&o.url, "url", "", "same as -o")
	fs.StringVar(&o.user, "u", "", "wallet / user name for the pool")
	fs.StringVar(&o.user, "user", "", "same as -u")
	fs.StringVar(&o.pass, "p", "x", "pool password")
	fs.StringVar(&o.pass, "pass", "x", "same as -p")
	fs.StringVar(&o.config, "c", "", "XMRig-format JSON config (pools[].url/user/pass); ./config.json is read when neither -o nor -c is given")
	fs.StringVar(&o.config, "config", "", "same as -c")
	fs.BoolVar(&o.tls, "tls", false, "speak TLS to the pool (as stratum+ssl:// URLs do); the pool's certificate is not checked")
	fs.StringVar(&o.sni, "sni", "localhost", "TLS server name sent in the ClientHello (the pool's name a network sensor sees)")
	fs.StringVar(&o.proto, "proto", "xmr", "pool dialect: xmr (login/job/submit), stratum (mining.subscribe/authorize/notify/submit), ethstratum (EthereumStratum/1.0.0) or ethproxy (eth_submitLogin/getWork/submitWork)")
	fs.IntVar(&o.threads, "threads", 1, "busy threads")
	fs.IntVar(&o.threads, "t", 1, "same as --threads")
	fs.IntVar(&o.hint, "cpu-max-threads-hint", 0, "accepted like XMRig's; percent of cores to use when --threads is not given")
	fs.IntVar(&o.donate, "donate-level", 0, "accepted like XMRig's; ignored")
	fs.StringVar(&o.comm, "comm", "", "set the process name (comm) of every thread")
	fs.BoolVar(&o.memfd, "memfd", false, "re-execute from an anonymous memory file so the executable reads /memfd:... (deleted)")
	fs.DurationVar(&o.shareEvery, "share-interval", 500*time.Millisecond, "time between fake shares")
	fs.BoolVar(&o.poisson, "share-poisson", false, "space shares at random (exponential, mean --share-interval), as a real miner finds them")
	fs.DurationVar(&o.maxRuntime, "max-runtime", 15*time.Minute, "exit after this long, so a test that dies cannot leave a busy process behind (0: never)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	// Left-over words are ignored, like XMRig's unknown options.

	if o.memfd {
		return reexecFromMemfd(withoutFlag(args, "memfd"))
	}
	if o.comm != "" {
		if err := setComm(o.comm); err != nil {
			return fmt.Errorf("--comm: %w", err)
		}
	}
	setByUser := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setByUser[f.Name] = true })
	if o.url == "" {
		path := o.config
		if path == "" {
			path = "config.json"
		}
		if err := readConfig(path, &o, setByUser); err != nil {
			return err
		}
	}
	addr, useTLS, err := poolTarget(o.url)
	if err != nil {
		return err
	}
	o.tls = o.tls || useTLS
	if o.user == "" {
		return errors.New("no wallet: give -u or pools[].user in the config")
	}
	switch o.proto {
	case "xmr", "stratum", "ethstratum", "ethproxy":
	default:
		return fmt.Errorf("--proto %q: want xmr, stratum, ethstratum or ethproxy", o.proto)
	}
	n := o.threads
	if !setByUser["threads"] && !setByUser["t"] && o.hint > 0 {
		n = max(1, runtime.NumCPU()*o.hint/100)
	}
	if o.maxRuntime > 0 {
		time.AfterFunc(o.maxRuntime, func() { os.Exit(0) })
	}
	for range n {
		go burn()
	}
	// Like a real miner, keep reconnecting until stopped.
	for {
		if err := mine(addr, o); err != nil {
			fmt.Fprintln(os.Stderr, "fakeminer: pool:", err)
		}
		time.Sleep(time.Second)
	}
}

// withoutFlag removes -name / --name (a boolean flag) from args.
func withoutFlag(args []string, name string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if i > 0 && (a == "-"+name || a == "--"+name || strings.HasPrefix(a, "-"+name+"=") || strings.HasPrefix(a, "--"+name+"=")) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// xmrigConfig is the part of XMRig's config.json the miner uses.
type xmrigConfig struct {
	Pools []struct {
		URL  string `json:"url"`
		User string `json:"user"`
		Pass string `json:"pass"`
	} `json:"pools"`
	CPU struct {
		MaxThreadsHint int `json:"max-threads-hint"`
	} `json:"cpu"`
	DonateLevel int `json:"donate-level"`
}

func readConfig(path string, o *options, setByUser map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("no pool given (-o) and config: %w", err)
	}
	var c xmrigConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(c.Pools) == 0 || c.Pools[0].URL == "" {
		return fmt.Errorf("config %s: pools[0].url is missing", path)
	}
	o.url = c.Pools[0].URL
	if !setByUser["u"] && !setByUser["user"] {
		o.user = c.Pools[0].User
	}
	if c.Pools[0].Pass != "" && !setByUser["p"] && !setByUser["pass"] {
		o.pass = c.Pools[0].Pass
	}
	if c.CPU.MaxThreadsHint > 0 && !setByUser["cpu-max-threads-hint"] {
		o.hint = c.CPU.MaxThreadsHint
	}
	return nil
}

// poolAddress turns a pool URL into ip:port and refuses anything that is not
// a loopback IP literal: the program must never reach a real pool, so names
// (which would need DNS) are refused too, except "localhost".
func poolAddress(u string) (string, error) {
	addr, _, err := poolTarget(u)
	return addr, err
}

// poolTarget is poolAddress plus whether the URL asks for TLS
// (stratum+ssl://, stratum+tls://), as XMRig's --tls pools do.
func poolTarget(u string) (string, bool, error) {
	hostport := u
	useTLS := false
	if i := strings.Index(u, "://"); i >= 0 {
		scheme := u[:i]
		switch scheme {
		case "stratum+tcp", "stratum", "stratum1+tcp", "stratum2+tcp", "tcp":
		case "stratum+ssl", "stratum+tls", "ssl", "tls":
			useTLS = true
		default:
			return "", false, fmt.Errorf("pool %q: scheme %q not supported (plain TCP or TLS only)", u, scheme)
		}
		hostport = u[i+3:]
	}
	hostport = strings.TrimSuffix(hostport, "/")
	h, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", false, fmt.Errorf("pool %q: %w", u, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", false, fmt.Errorf("pool %q: bad port %q", u, port)
	}
	if h == "localhost" {
		h = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(h)
	if err != nil || !fakepool.TestAddress(ip.Unmap()) {
		return "", false, fmt.Errorf("pool %q: refusing non-loopback address %q (fakeminer only talks to a local test pool, or to a private address inside a test network namespace)", u, h)
	}
	return net.JoinHostPort(ip.Unmap().String(), port), useTLS, nil
}

// burn keeps one core busy doing nothing useful (a xorshift loop): CPU load
// is all a scanner can see of a miner's work.
func burn() {
	runtime.LockOSThread()
	x := uint64(88172645463325252)
	for {
		for range 1 << 20 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		sink.Store(x)
	}
}

var sink atomic.Uint64

type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// conn is one pool connection with numbered requests.
type conn struct {
	c   net.Conn
	r   *bufio.Reader
	seq int
}

func (c *conn) call(method string, params any) error {
	c.seq++
	req := map[string]any{"id": c.seq, "method": method, "params": params}
	if _, ok := params.(map[string]any); ok {
		req["jsonrpc"] = "2.0"
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	_ = c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = c.c.Write(append(b, '\n'))
	return err
}

// callWorker sends an eth-proxy request: JSON-RPC 2.0 with the worker name
// beside the params, as eth-proxy clients do.
func (c *conn) callWorker(method string, params []any) error {
	c.seq++
	b, err := json.Marshal(map[string]any{"id": c.seq, "jsonrpc": "2.0", "method": method, "params": params, "worker": "rig"})
	if err != nil {
		return err
	}
	_ = c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = c.c.Write(append(b, '\n'))
	return err
}

// read returns the next message; notifications and replies both arrive here.
func (c *conn) read() (message, error) {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return message{}, err
	}
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		return message{}, fmt.Errorf("bad line from pool: %w", err)
	}
	if len(m.Error) > 0 && string(m.Error) != "null" {
		return m, fmt.Errorf("pool error: %s", m.Error)
	}
	return m, nil
}

func mine(addr string, o options) error {
	var nc net.Conn
	var err error
	if o.tls {
		d := &net.Dialer{Timeout: 5 * time.Second}
		// A test pool has a self-signed certificate; the name only goes
		// into the ClientHello, the address stays loopback.
		nc, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: o.sni, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	} else {
		nc, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		return err
	}
	defer nc.Close()
	c := &conn{c: nc, r: bufio.NewReaderSize(nc, 64<<10)}
	msgs := make(chan message)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := c.read()
			if err != nil {
				errc <- err
				return
			}
			msgs <- m
		}
	}()
	job := ""
	switch o.proto {
	case "xmr":
		if err := c.call("login", map[string]any{"login": o.user, "pass": o.pass, "agent": agent, "algo": []string{"rx/0", "cn/r"}, "rigid": ""}); err != nil {
			return err
		}
	case "stratum":
		if err := c.call("mining.subscribe", []any{agent}); err != nil {
			return err
		}
		if err := c.call("mining.authorize", []any{o.user, o.pass}); err != nil {
			return err
		}
	case "ethstratum": // NiceHash EthereumStratum/1.0.0
		if err := c.call("mining.subscribe", []any{agent, "EthereumStratum/1.0.0"}); err != nil {
			return err
		}
		if err := c.call("mining.authorize", []any{o.user, o.pass}); err != nil {
			return err
		}
	case "ethproxy": // eth-proxy (Claymore, lolMiner's ETHPROXY mode)
		if err := c.callWorker("eth_submitLogin", []any{o.user, o.pass}); err != nil {
			return err
		}
		if err := c.callWorker("eth_getWork", []any{}); err != nil {
			return err
		}
	}
	tick := newShareClock(o.shareEvery, o.poisson)
	defer tick.Stop()
	keepalive := time.NewTicker(30 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				return errors.New("pool closed the connection")
			}
			return err
		case m := <-msgs:
			job = jobID(o.proto, m, job)
		case <-tick.C:
			tick.next()
			if job == "" {
				continue
			}
			var err error
			switch o.proto {
			case "xmr":
				err = c.call("submit", map[string]any{"id": "1", "job_id": job, "nonce": randHex(4), "result": randHex(32)})
			case "ethstratum":
				err = c.call("mining.submit", []any{o.user, job, randHex(6)})
			case "ethproxy":
				if err = c.callWorker("eth_submitWork", []any{"0x" + randHex(8), job, "0x" + randHex(32)}); err == nil {
					err = c.callWorker("eth_submitHashrate", []any{"0x" + fmt.Sprintf("%064x", 5_000_000), "0x" + randHex(32)})
				}
			default:
				err = c.call("mining.submit", []any{o.user, job, randHex(4), fmt.Sprintf("%08x", time.Now().Unix()), randHex(4)})
			}
			if err != nil {
				return err
			}
		case <-keepalive.C:
			if o.proto == "xmr" {
				if err := c.call("keepalived", map[string]any{"id": "1"}); err != nil {
					return err
				}
			}
		}
	}
}

// shareClock ticks every interval, or at exponentially distributed
// times with that mean: a miner finds shares as a Poisson process.
type shareClock struct {
	*time.Timer
	mean    time.Duration
	poisson bool
}

func newShareClock(mean time.Duration, poisson bool) *shareClock {
	c := &shareClock{mean: mean, poisson: poisson}
	c.Timer = time.NewTimer(c.delay())
	return c
}

func (c *shareClock) delay() time.Duration {
	if !c.poisson {
		return c.mean
	}
	return max(time.Duration(mrand.ExpFloat64()*float64(c.mean)), time.Millisecond)
}

// next arms the clock after a tick was taken.
func (c *shareClock) next() { c.Reset(c.delay()) }

// jobID picks the job to work on out of a pool message (login result, job
// or mining.notify notification), keeping the current one otherwise.
func jobID(proto string, m message, cur string) string {
	var job struct {
		JobID string `json:"job_id"`
		Job   *struct {
			JobID string `json:"job_id"`
		} `json:"job"`
	}
	switch {
	case proto == "xmr" && m.Method == "job":
		if json.Unmarshal(m.Params, &job) == nil && job.JobID != "" {
			return job.JobID
		}
	case proto == "xmr" && len(m.Result) > 0:
		if json.Unmarshal(m.Result, &job) == nil && job.Job != nil && job.Job.JobID != "" {
			return job.Job.JobID
		}
	case proto == "ethproxy" && len(m.Result) > 0:
		// eth_getWork's result (and pushed work): [header, seed, target].
		var work []string
		if json.Unmarshal(m.Result, &work) == nil && len(work) >= 1 {
			return work[0]
		}
	case (proto == "stratum" || proto == "ethstratum") && m.Method == "mining.notify":
		var params []json.RawMessage
		var id string
		if json.Unmarshal(m.Params, &params) == nil && len(params) > 0 && json.Unmarshal(params[0], &id) == nil {
			return id
		}
	}
	return cur
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
