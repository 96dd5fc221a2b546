package checks

import (
	"slices"
	"strings"
	"testing"
)

func TestCmdlineFixtures(t *testing.T) {
	tests := []struct {
		name   string
		argv   []string
		rules  []string
		match  []string // Match of the first finding
		url    string
		domain string
		detail map[string]string
	}{
		{name: "xmrig stratum and flags",
			argv:  []string{"xmrig", "-o", "stratum+tcp://pool.example:3333", "-u", idWallet, "--donate-level", "1"},
			rules: []string{"process.cmdline.stratum_url/high", "process.cmdline.miner_flags/high"},
			match: []string{"-o stratum+tcp://pool.example:3333"}, url: "stratum+tcp://pool.example:3333", domain: "pool.example",
			detail: map[string]string{"pool_port": "3333"}},
		{name: "known pool without scheme",
			argv:  []string{"./kworker", "-o", "pool.supportxmr.com:443", "-u", "x", "-k"},
			rules: []string{"process.cmdline.pool_domain/high"},
			match: []string{"-o pool.supportxmr.com:443"}, url: "pool.supportxmr.com:443", domain: "pool.supportxmr.com"},
		{name: "algorithm with ip pool",
			argv:  []string{"cpuminer", "-a", "scrypt", "-o", "10.1.2.3:3333", "-u", "w.1"},
			rules: []string{"process.cmdline.algorithm/high"},
			match: []string{"-a scrypt", "-o 10.1.2.3:3333", "-u w.1"}, url: "10.1.2.3:3333",
			detail: map[string]string{"pool_ip": "10.1.2.3", "algorithm": "scrypt"}},
		{name: "algorithm word with user",
			argv:  []string{"./a", "rx/0", "--user", "bob"},
			rules: []string{"process.cmdline.algorithm/high"}, match: []string{"rx/0", "--user bob"}},
		{name: "ethminer userinfo url",
			argv:  []string{"ethminer", "-P", "stratum1+tcp://" + idHex40 + ".w@eth.pool.example:4444"},
			rules: []string{"process.cmdline.stratum_url/high"}, domain: "eth.pool.example"},
		{name: "dropper script",
			argv:  []string{"bash", "-c", "cd /tmp && ./.x -o stratum+ssl://1.2.3.4:443 -B >/dev/null"},
			rules: []string{"process.cmdline.stratum_url/high"}, url: "stratum+ssl://1.2.3.4:443",
			match: []string{"cd /tmp && ./.x -o stratum+ssl://1.2.3.4:443 -B >/dev/null"}},
		{name: "pool and user only", argv: []string{"./bin", "-o", "10.1.2.3:3333", "-u", "bob"},
			rules: []string{"process.cmdline.weak_flags/medium"}, match: []string{"-o 10.1.2.3:3333", "-u bob"}},
		{name: "two weak flags", argv: []string{"./bin", "--worker", "w1", "--pool", "p"},
			rules: []string{"process.cmdline.weak_flags/medium"}, match: []string{"--worker", "--pool"}},
		{name: "config detail", argv: []string{"./bin", "--donate-level=0", "-c", "cfg.json"},
			rules: []string{"process.cmdline.miner_flags/high"}, match: []string{"--donate-level=0"},
			detail: map[string]string{"config": "cfg.json"}},
		{name: "one weak flag", argv: []string{"./bin", "--worker", "w1"}},
		{name: "gcc", argv: strings.Fields("gcc -O2 -o x x.c")},
		{name: "python", argv: strings.Fields("python3 train.py --lr 0.01 --epochs 10 -o out/")},
		{name: "ssh", argv: strings.Fields("ssh -o StrictHostKeyChecking=no host")},
		{name: "git commit", argv: []string{"git", "commit", "-m", "fix " + idHex40}},
		{name: "hashcat", argv: strings.Fields("hashcat -a 3 -m 0 hashes.txt")},
		{name: "sort", argv: strings.Fields("sort -u -o sorted.txt file.txt")},
		{name: "curl", argv: strings.Fields("curl -o f.tgz https://example.com:8443/f.tgz")},
	}
	var procs []idFixProc
	for i, tt := range tests {
		procs = append(procs, idFixProc{pid: 100 + i, argv: tt.argv, exe: "/usr/bin/" + tt.argv[0], cwd: "/home/u"})
	}
	env := idFixture(t, nil, procs)
	got := idRun(t, env, "process.cmdline")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := got[100+i]
			if r := idRules(fs); !slices.Equal(r, tt.rules) {
				t.Fatalf("rules = %q, want %q", r, tt.rules)
			}
			if len(fs) == 0 {
				return
			}
			f := fs[0]
			if f.Check != "" && f.Check != "process.cmdline" {
				t.Errorf("check = %q", f.Check)
			}
			if f.Signal != "identity" || f.Evidence.PID != 100+i || f.Evidence.Cmdline != strings.Join(tt.argv, " ") {
				t.Errorf("evidence = %+v", f.Evidence)
			}
			if tt.match != nil && !slices.Equal(f.Evidence.Match, tt.match) {
				t.Errorf("match = %q, want %q", f.Evidence.Match, tt.match)
			}
			if tt.url != "" && f.Evidence.URL != tt.url {
				t.Errorf("url = %q, want %q", f.Evidence.URL, tt.url)
			}
			if f.Evidence.Domain != tt.domain {
				t.Errorf("domain = %q, want %q", f.Evidence.Domain, tt.domain)
			}
			for k, v := range tt.detail {
				if f.Evidence.Details[k] != v {
					t.Errorf("details[%s] = %q, want %q (all %v)", k, f.Evidence.Details[k], v, f.Evidence.Details)
				}
			}
		})
	}
}
