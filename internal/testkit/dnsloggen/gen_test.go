package dnsloggen

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/netsense"
)

// TestPlantedLookupsFound: minerguard counts exactly the pool lookups the
// generator planted — every one, mixed case included, from the right
// clients and names — and none of the near-miss names, which a substring
// search (grep -F) takes for pool names.
func TestPlantedLookupsFound(t *testing.T) {
	db := intel.MustLoad()
	var pools []string
	for _, d := range db.Domains {
		pools = append(pools, d.Domain)
	}
	var buf bytes.Buffer
	m, err := Generate(&buf, Config{Lines: 400000, Seed: 4, Pools: pools, NearShare: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	// Near misses of pool.xmrig.com must not be subdomains of xmrig.com.
	for _, p := range pools {
		for range 50 {
			if n := nearMiss(rand.New(rand.NewPCG(uint64(len(p)), 1)), p, pools); under(n, pools) || !strings.Contains(n, p) {
				t.Fatalf("near miss %q of %q", n, p)
			}
		}
	}
	if m.PoolQueries == 0 || m.NearQueries == 0 || m.PoolMixedCase == 0 {
		t.Fatalf("nothing planted: %+v", m)
	}
	// The near misses are what grep -F gets wrong: lines that contain a
	// pool domain without naming it or a subdomain of it.
	substr := 0
	for _, l := range strings.Split(buf.String(), "\n") {
		for _, p := range pools {
			if strings.Contains(l, p) {
				substr++
				break
			}
		}
	}
	if want := m.PoolQueries + m.PoolOther + m.NearQueries + m.NearOther; substr >= want || substr < m.NearQueries+m.NearOther {
		t.Errorf("%d lines contain a pool domain; planted %d pool and %d near-miss lines", substr, m.PoolQueries+m.PoolOther, m.NearQueries+m.NearOther)
	}
	a := netsense.NewAnalyzer(db)
	matched, skipped, err := a.ReadDNSLog(context.Background(), &buf, "gen.log")
	if err != nil {
		t.Fatal(err)
	}
	if matched != m.Queries || skipped != m.Lines-m.Queries {
		t.Errorf("matched %d skipped %d, want %d queries of %d lines", matched, skipped, m.Queries, m.Lines)
	}
	clients, names := map[string]int{}, map[string]int{}
	for _, f := range a.Findings() {
		if f.Rule != "net.dns_pool" {
			continue
		}
		clients[f.Evidence.SrcIP] += int(f.Evidence.Packets)
		names[f.Evidence.Domain] += int(f.Evidence.Packets)
	}
	if !sameCounts(clients, m.PoolClients) || !sameCounts(names, m.PoolNames) {
		t.Errorf("pool lookups by client %v\nwant %v\nby name %v\nwant %v", clients, m.PoolClients, names, m.PoolNames)
	}
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
