package intel

import (
	"net/netip"
	"regexp/syntax"
	"strings"
	"testing"
	"testing/fstest"
)

func TestEmbeddedLoads(t *testing.T) {
	db, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if db.Manifest.Version == "" || len(db.Manifest.Sources) == 0 {
		t.Error("manifest lacks version or sources")
	}
	// The issue names these; they must stay in the data.
	for _, name := range []string{"xmrig", "xmr-stak", "cpuminer", "minerd", "ccminer", "cgminer", "bfgminer", "t-rex", "nbminer", "phoenixminer", "lolminer", "gminer", "teamredminer", "nanominer", "srbminer", "ethminer", "kdevtmpfsi", "kinsing", "kworkerds", "sysupdate", "networkservice", "dbused"} {
		if _, ok := db.Program(name); !ok {
			t.Errorf("program %q missing from miners.json", name)
		}
	}
	if _, ok := db.Domain("pool.xmrig.com"); !ok {
		t.Error("pool.xmrig.com missing")
	}
	for _, d := range db.Domains {
		found := false
		for _, s := range db.Manifest.Sources {
			found = found || s.ID == d.Source
		}
		if !found {
			t.Errorf("domain %s: source %q not in manifest", d.Domain, d.Source)
		}
	}
}

func TestProgramLookup(t *testing.T) {
	db := MustLoad()
	tests := []struct {
		name string
		want string
		ok   bool
	}{
		{"xmrig", "xmrig", true},
		{"XMRig.exe", "xmrig", true},
		{"/tmp/.x/xmrig-x64", "xmrig", true},
		{"xmrig_amd64", "xmrig", true},
		{"kdevtmpfsi", "kinsing", true},
		{"miner", "gminer", true},
		{"miner-x64", "", false}, // generic word: exact only
		{"kdevtmpfs", "", false}, // the real kernel thread
		{"python3", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		p, ok := db.Program(tc.name)
		if ok != tc.ok || (ok && p.Name != tc.want) {
			t.Errorf("Program(%q) = %v, %v; want %q, %v", tc.name, p, ok, tc.want, tc.ok)
		}
	}
}

func TestDomainSuffixSemantics(t *testing.T) {
	db := MustLoad()
	tests := []struct {
		name string
		ok   bool
	}{
		{"pool.xmrig.com", true},
		{"POOL.XMRIG.COM.", true},
		{"a.b.supportxmr.com", true},
		{"supportxmr.com", true},
		{"notsupportxmr.com", false},
		{"supportxmr.com.evil.example", false},
		{"example.com", false},
		{"com", false},
		{"", false},
	}
	for _, tc := range tests {
		if _, ok := db.Domain(tc.name); ok != tc.ok {
			t.Errorf("Domain(%q) = %v, want %v", tc.name, ok, tc.ok)
		}
	}
	for _, tc := range tests {
		n := NormalizeDomain(tc.name)
		if _, ok := db.DomainBytes([]byte(n)); ok != tc.ok {
			t.Errorf("DomainBytes(%q) = %v, want %v", n, ok, tc.ok)
		}
	}
	if k, ok := db.DomainKeyword("xmr-eu1.example.net"); !ok || k != "xmr" {
		t.Errorf("DomainKeyword = %q, %v", k, ok)
	}
	if _, ok := db.DomainKeyword("www.example.org"); ok {
		t.Error("keyword in a plain name")
	}
}

func TestPortsAndAlgorithms(t *testing.T) {
	db := MustLoad()
	for _, p := range []uint16{3333, 4444, 5555, 8220, 14444} {
		if _, ok := db.Port(p); !ok {
			t.Errorf("port %d missing", p)
		}
	}
	for _, p := range []uint16{22, 80, 443, 8080} {
		if _, ok := db.Port(p); ok {
			t.Errorf("port %d must not be a mining port", p)
		}
	}
	if !db.IsAlgorithm("RX/0") || db.IsAlgorithm("adam") {
		t.Error("algorithm lookup")
	}
	if s, ok := db.StratumURL("-o STRATUM+TCP://x:1"); !ok || s != "stratum+tcp://" {
		t.Errorf("StratumURL = %q %v", s, ok)
	}
}

func TestWallets(t *testing.T) {
	db := MustLoad()
	xmr := "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
	got := db.FindWallets("-u " + xmr + " -p x")
	if len(got) != 1 || got[0].Coin != "XMR" || got[0].Address != xmr || got[0].Strength != "strong" {
		t.Errorf("FindWallets(xmr) = %+v", got)
	}
	if got := db.FindWallets("x" + xmr); len(got) != 0 {
		t.Errorf("address glued to other text matched: %+v", got)
	}
	if got := db.FindWallets("user=0x52908400098527886E0F7030069857D2E4169EE7"); len(got) != 1 || got[0].Coin != "ETH" {
		t.Errorf("eth = %+v", got)
	}
}

func TestKernelThreadsAndDirs(t *testing.T) {
	db := MustLoad()
	for _, n := range []string{"[kworker/0:2]", "kworker/1:1H", "kswapd0", "ksoftirqd/3"} {
		if !db.KernelThreadName(n) {
			t.Errorf("%q not a kernel thread name", n)
		}
	}
	for _, n := range []string{"sshd", "xmrig", "python3"} {
		if db.KernelThreadName(n) {
			t.Errorf("%q taken for a kernel thread", n)
		}
	}
	if d, ok := db.InTempDir("/dev/shm/x"); !ok || d != "/dev/shm" {
		t.Errorf("InTempDir = %q %v", d, ok)
	}
	if _, ok := db.InTempDir("/tmpfoo/x"); ok {
		t.Error("/tmpfoo is not /tmp")
	}
	for p, want := range map[string]bool{"/tmp/.x/a": true, "/tmp/.../a": true, "/var/tmp/ /a": true, "/usr/bin/a": false} {
		if _, got := HiddenComponent(p); got != want {
			t.Errorf("HiddenComponent(%q) = %v", p, got)
		}
	}
	if fw, ok := db.Framework([]string{"/x/site-packages/torch/lib/libtorch_cuda.so"}); !ok || fw != "PyTorch" {
		t.Errorf("Framework = %q %v", fw, ok)
	}
}

func TestLoadErrorsNameFileAndField(t *testing.T) {
	good := map[string]string{}
	for _, n := range []string{"manifest", "miners", "pools", "cmdline", "wallets", "signatures", "processes"} {
		b, err := embedded.ReadFile("data/" + n + ".json")
		if err != nil {
			t.Fatal(err)
		}
		good[n+".json"] = string(b)
	}
	tests := []struct {
		file, content, wantSub string
	}{
		{"pools.json", `{"domains":[{"domain":"nodot"}]}`, "pools.json: domains[0]"},
		{"pools.json", `{"ips":[{"cidr":"300.1.1.1"}]}`, "pools.json: ips[0]"},
		{"miners.json", `{"programs":[{"name":"x","kind":"toaster","names":["x"]}]}`, "miners.json: programs[0]"},
		{"wallets.json", `{"patterns":[{"name":"bad","regex":"("}]}`, "wallets.json: patterns[0]"},
		{"signatures.json", `{"threshold":0}`, "signatures.json: threshold"},
		{"processes.json", `{"kernel_threads":["("]}`, "processes.json: kernel_threads"},
		{"cmdline.json", `{"flags":`, "cmdline.json"},
	}
	for _, tc := range tests {
		fsys := fstest.MapFS{}
		for n, c := range good {
			fsys["d/"+n] = &fstest.MapFile{Data: []byte(c)}
		}
		fsys["d/"+tc.file] = &fstest.MapFile{Data: []byte(tc.content)}
		_, err := LoadFS(fsys, "d")
		if err == nil || !strings.Contains(err.Error(), tc.wantSub) {
			t.Errorf("%s %s: err = %v, want it to name %q", tc.file, tc.content, err, tc.wantSub)
		}
	}
	fsys := fstest.MapFS{}
	for n, c := range good {
		fsys["d/"+n] = &fstest.MapFile{Data: []byte(c)}
	}
	fsys["d/pools.json"] = &fstest.MapFile{Data: []byte(`{"domains":[{"domain":"pool.example"}],"ips":[{"cidr":"192.0.2.0/24"}]}`)}
	db, err := LoadFS(fsys, "d")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := db.IP(netip.MustParseAddr("192.0.2.77")); !ok {
		t.Error("CIDR lookup")
	}
	if _, ok := db.IP(netip.MustParseAddr("::ffff:192.0.2.1")); !ok {
		t.Error("v4-mapped lookup")
	}
}

// TestMinWalletRun: no wallet pattern may match a string whose longest
// alphanumeric run is shorter than minWalletRun, or the pre-filter in
// FindWallets would hide it. Each pattern's shortest match is built and
// cut by one character.
func TestMinWalletRun(t *testing.T) {
	db := MustLoad()
	for _, w := range db.Wallets {
		syn, err := syntax.Parse(w.Regex, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		shortest := minRun(syn)
		if shortest < minWalletRun {
			t.Errorf("%s (%s): a match can have an alphanumeric run of only %d < minWalletRun %d", w.Name, w.Regex, shortest, minWalletRun)
		}
	}
}

// minRun is the shortest run of alphanumerics after the last non-alnum
// literal a regexp's match must contain (a lower bound on the longest run).
func minRun(re *syntax.Regexp) int {
	run := 0
	var walk func(*syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpConcat:
			for _, s := range r.Sub {
				walk(s)
			}
		case syntax.OpLiteral:
			for _, c := range r.Rune {
				if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
					run++
				} else {
					run = 0
				}
			}
		case syntax.OpCharClass:
			run++
		case syntax.OpRepeat:
			for range r.Min {
				walk(r.Sub[0])
			}
		case syntax.OpCapture:
			walk(r.Sub[0])
		default:
			run++
		}
	}
	walk(re)
	return run
}

func TestSection(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, n := range []string{"manifest", "miners", "pools", "cmdline", "wallets", "signatures", "processes"} {
		b, err := embedded.ReadFile("data/" + n + ".json")
		if err != nil {
			t.Fatal(err)
		}
		fsys["d/"+n+".json"] = &fstest.MapFile{Data: b}
	}
	fsys["d/extra.json"] = &fstest.MapFile{Data: []byte(`{"names":["a","b"]}`)}
	fsys["d/typo.json"] = &fstest.MapFile{Data: []byte(`{"nmaes":["a"]}`)}
	db, err := LoadFS(fsys, "d")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Names []string `json:"names"`
	}
	if err := db.Section("extra", &v); err != nil || len(v.Names) != 2 {
		t.Errorf("Section(extra) = %v, %v", v, err)
	}
	if err := db.Section("typo", &v); err == nil || !strings.Contains(err.Error(), "typo.json") {
		t.Errorf("unknown field: err = %v, want one naming typo.json", err)
	}
	if err := db.Section("missing", &v); err == nil {
		t.Error("missing section: want error")
	}
}

// FuzzDomainBytes: the allocation-free lookups resolver logs use answer
// exactly as Domain and DomainKeyword do for any normalised name.
func FuzzDomainBytes(f *testing.F) {
	db := MustLoad()
	for _, s := range []string{"pool.xmrig.com", "a.b.supportxmr.com", "notsupportxmr.com", "xmr-eu1.example.net", "minexmr", "x", "", "...", "stratum"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeDomain(s)
		if NormalizeDomain(n) != n {
			return // Domain normalises twice; the fast path is only used where once is enough
		}
		_, want := db.Domain(n)
		if _, got := db.DomainBytes([]byte(n)); got != want {
			t.Errorf("DomainBytes(%q) = %v, Domain %v", n, got, want)
		}
		_, want = db.DomainKeyword(n)
		if got := db.HasDomainKeyword([]byte(n)); got != want {
			t.Errorf("HasDomainKeyword(%q) = %v, DomainKeyword %v", n, got, want)
		}
	})
}
