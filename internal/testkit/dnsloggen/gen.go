// Package dnsloggen writes large dnsmasq --log-queries logs for tests and
// benchmarks of `minerguard net logs`: ordinary lookups with dnsmasq's
// forwarded/reply/cached lines, a small fraction of pool lookups (listed
// domains and their subdomains, a few in mixed case), and near-miss names
// that contain a pool domain without being it or under it
// (notsupportxmr.com, 2miners.community, xmrig.com.cdn.example): the
// names a substring search such as grep -F gets wrong.
package dnsloggen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// Config sizes a log.
type Config struct {
	Lines     int     // lines to write
	Seed      uint64  // same seed, same log
	PoolShare float64 // share of queries for pool names (default 0.002)
	NearShare float64 // share of queries for near-miss names (default 0.002)
	Pools     []string
	Start     time.Time
}

// Manifest counts what was written, the truth to compare matches with.
type Manifest struct {
	Lines         int
	Queries       int            // query[...] lines
	PoolQueries   int            // queries of a pool domain or a subdomain of one
	PoolMixedCase int            // of those, written in mixed case
	PoolOther     int            // forwarded/reply/cached lines naming a pool name
	NearQueries   int            // queries of near-miss names
	NearOther     int            // forwarded/reply/cached lines naming a near miss
	PoolClients   map[string]int // pool queries per client address
	PoolNames     map[string]int // pool queries per lower-cased name
}

var words = []string{"alpha", "north", "cloud", "static", "media", "news", "shop", "docs", "api", "cdn", "mail", "files",
	"update", "video", "maps", "forum", "wiki", "travel", "bank", "school", "photo", "music", "weather", "sport",
	"login", "assets", "img", "telemetry", "push", "time", "search", "ads", "auth", "sync"}
var tlds = []string{"com", "net", "org", "io", "de", "co.uk", "example", "test"}
var subs = []string{"pool", "xmr", "xmr-eu1", "eu", "us-east", "gulf", "auto", "stratum", "eth", "rx", "fr", "asia", "de", "www"}

// Generate writes a dnsmasq log of cfg.Lines lines to w.
func Generate(w io.Writer, cfg Config) (*Manifest, error) {
	if cfg.PoolShare == 0 {
		cfg.PoolShare = 0.002
	}
	if cfg.NearShare == 0 {
		cfg.NearShare = 0.002
	}
	if len(cfg.Pools) == 0 {
		return nil, fmt.Errorf("dnsloggen: no pool domains")
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x646e73))
	bw := bufio.NewWriterSize(w, 1<<20)
	m := &Manifest{PoolClients: map[string]int{}, PoolNames: map[string]int{}}
	// A few thousand ordinary names, looked up with a skewed popularity.
	benign := make([]string, 5000)
	for i := range benign {
		n := words[rng.IntN(len(words))] + fmt.Sprint(rng.IntN(50)) + "." + tlds[rng.IntN(len(tlds))]
		if rng.IntN(2) == 0 {
			n = words[rng.IntN(len(words))] + "." + n
		}
		benign[i] = n
	}
	// Miners sit on a few machines; near misses come from anyone.
	miners := []string{"192.168.10.23", "192.168.10.77", "192.168.12.5", "fd00::1:42"}
	now := cfg.Start
	pid := 812
	var line []byte
	out := func(client, name string, kind int) {
		line = line[:0]
		now = now.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
		line = now.AppendFormat(line, time.Stamp)
		line = fmt.Appendf(line, " dnsmasq[%d]: ", pid)
		switch kind {
		case 0:
			qt := "A"
			if rng.IntN(3) == 0 {
				qt = "AAAA"
			}
			if rng.IntN(4) == 0 { // log-queries=extra: serial and client/port
				line = fmt.Appendf(line, "%d %s/%d ", rng.IntN(99999), client, 1024+rng.IntN(60000))
			}
			line = fmt.Appendf(line, "query[%s] %s from %s\n", qt, name, client)
		case 1:
			line = fmt.Appendf(line, "forwarded %s to 10.0.0.1\n", name)
		case 2:
			line = fmt.Appendf(line, "reply %s is 203.0.113.%d\n", name, 1+rng.IntN(250))
		default:
			line = fmt.Appendf(line, "cached %s is 198.51.100.%d\n", name, 1+rng.IntN(250))
		}
		bw.Write(line)
		m.Lines++
	}
	for m.Lines < cfg.Lines {
		client := fmt.Sprintf("192.168.%d.%d", 10+rng.IntN(4), 2+rng.IntN(250))
		r := rng.Float64()
		var name string
		var pool, near bool
		switch {
		case r < cfg.PoolShare:
			pool = true
			client = miners[rng.IntN(len(miners))]
			name = cfg.Pools[rng.IntN(len(cfg.Pools))]
			if rng.IntN(2) == 0 {
				name = subs[rng.IntN(len(subs))] + "." + name
			}
		case r < cfg.PoolShare+cfg.NearShare:
			near = true
			name = nearMiss(rng, cfg.Pools[rng.IntN(len(cfg.Pools))], cfg.Pools)
		default:
			name = benign[int(float64(len(benign))*rng.Float64()*rng.Float64())]
		}
		lower := name
		if pool && rng.IntN(20) == 0 { // mixed case (DNS 0x20, or a hand-typed name)
			name = mixCase(rng, name)
			m.PoolMixedCase++
		}
		out(client, name, 0)
		m.Queries++
		if pool {
			m.PoolQueries++
			m.PoolClients[client]++
			m.PoolNames[lower]++
		}
		if near {
			m.NearQueries++
		}
		// The resolver's own lines about the same name.
		extra := 0
		if rng.IntN(3) == 0 {
			out(client, name, 3)
			extra = 1
		} else {
			out(client, name, 1)
			out(client, name, 2)
			extra = 2
		}
		if pool {
			m.PoolOther += extra
		}
		if near {
			m.NearOther += extra
		}
	}
	return m, bw.Flush()
}

// nearMiss returns a name that contains pool but is neither a listed
// domain nor under one ("notpool.xmrig.com" would be: it is a subdomain
// of xmrig.com, so that variant is not used for it).
func nearMiss(rng *rand.Rand, pool string, pools []string) string {
	var n string
	switch rng.IntN(4) {
	case 0:
		n = "not" + pool // notsupportxmr.com
	case 1:
		n = pool + ".cdn.example" // xmrig.com.cdn.example
	case 2:
		n = "www." + pool + "-mirror.example" // www.nanopool.org-mirror.example
	}
	if n == "" || under(n, pools) {
		n = pool + "x" // 2miners.comx, kano.isx: a top-level domain no list has
	}
	return n
}

// under reports whether name is one of pools or a subdomain of one.
func under(name string, pools []string) bool {
	for _, p := range pools {
		if name == p || strings.HasSuffix(name, "."+p) {
			return true
		}
	}
	return false
}

func mixCase(rng *rand.Rand, s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] >= 'a' && b[i] <= 'z' && rng.IntN(2) == 0 {
			b[i] -= 'a' - 'A'
		}
	}
	if strings.ToLower(string(b)) == string(b) && len(b) > 0 && b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	return string(b)
}
