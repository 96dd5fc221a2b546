package checks

import (
	"slices"
	"strings"
	"testing"
)

func TestMinerConfigFixtures(t *testing.T) {
	files := map[string]string{
		"/home/u/m/conf/x.json": "miner_config/xmrig_config.json",
		"/opt/.x/pools.txt":     "miner_config/pools.txt",
		"/opt/.x/config.txt":    "miner_config/config.txt",
		"/srv/w/config.json":    "miner_config/xmrig_config.json",
		"/srv/b/config.json":    "miner_config/broken_with_url.json",
		"/srv/app/config.json":  "miner_config/app_config.json",
		"/srv/big/config.json":  "=" + `{"url": "stratum+tcp://big.example:1", "algo": "rx/0"}` + strings.Repeat(" ", 1<<20),
		"/srv/dir/config.json/": "=",
	}
	// The last entry makes config.json a directory holding a file named "".
	delete(files, "/srv/dir/config.json/")
	files["/srv/dir/config.json/x"] = "=x"

	type want struct {
		rule, sev, path, foundBy, url, domain, wallet, format string
	}
	tests := []struct {
		name string
		proc idFixProc
		want []want
	}{
		{name: "config argument relative to cwd",
			proc: idFixProc{argv: []string{"./xmrig", "-c", "conf/x.json"}, exe: "/home/u/m/xmrig", cwd: "/home/u/m"},
			want: []want{{"process.miner_config", "high", "/home/u/m/conf/x.json", "argument -c", "pool.supportxmr.com:443", "pool.supportxmr.com", idWallet, "xmrig"}}},
		{name: "config=argument absolute",
			proc: idFixProc{argv: []string{"svc", "--config=/home/u/m/conf/x.json"}, exe: "/usr/bin/svc", cwd: "/"},
			want: []want{{"process.miner_config", "high", "/home/u/m/conf/x.json", "argument --config", "pool.supportxmr.com:443", "pool.supportxmr.com", idWallet, "xmrig"}}},
		{name: "beside deleted executable",
			proc: idFixProc{argv: []string{"[kthreadd]"}, exe: "/opt/.x/kthreadd (deleted)", cwd: "/"},
			want: []want{
				{"process.miner_config", "high", "/opt/.x/pools.txt", "executable directory", "xmr-eu1.nanopool.org:14433", "xmr-eu1.nanopool.org", idWallet, "xmr-stak"},
				{"process.miner_config", "medium", "/opt/.x/config.txt", "executable directory", "", "", "", "xmr-stak"},
			}},
		{name: "working directory",
			proc: idFixProc{pid: 302, argv: []string{"python3", "-m", "http.server"}, exe: "/usr/bin/python3", cwd: "/srv/w"},
			want: []want{{"process.miner_config", "high", "/srv/w/config.json", "working directory", "pool.supportxmr.com:443", "pool.supportxmr.com", idWallet, "xmrig"}}},
		{name: "launcher shell in miner dir",
			proc: idFixProc{pid: 303, argv: []string{"bash"}, exe: "/usr/bin/bash", cwd: "/srv/w"},
			want: []want{{"process.miner_config", "medium", "/srv/w/config.json", "working directory", "pool.supportxmr.com:443", "pool.supportxmr.com", idWallet, "xmrig"}}},
		{name: "miner started by the shell",
			proc: idFixProc{pid: 304, ppid: 303, argv: []string{"./xmrig"}, exe: "/srv/w/xmrig", cwd: "/srv/w"},
			want: []want{{"process.miner_config", "high", "/srv/w/config.json", "executable directory", "pool.supportxmr.com:443", "pool.supportxmr.com", idWallet, "xmrig"}}},
		{name: "unparsable with stratum url",
			proc: idFixProc{argv: []string{"./m"}, exe: "/usr/local/bin/m", cwd: "/srv/b"},
			want: []want{{"process.miner_config", "medium", "/srv/b/config.json", "working directory", "stratum+tcp://broken.pool.example:3333", "broken.pool.example", "", ""}}},
		{name: "application config", proc: idFixProc{argv: []string{"./app"}, exe: "/srv/app/app", cwd: "/srv/app"}},
		{name: "over size limit", proc: idFixProc{argv: []string{"./b"}, exe: "/srv/big/b", cwd: "/srv/big"}},
		{name: "config.json is a directory", proc: idFixProc{argv: []string{"./d"}, exe: "/srv/dir/d", cwd: "/srv/dir"}},
		{name: "unreadable exe and cwd", proc: idFixProc{argv: []string{"x", "-c", "/missing.json"}}},
		{name: "shell -c script is not a file",
			proc: idFixProc{argv: []string{"sh", "-c", "cat conf/x.json"}, exe: "/bin/sh", cwd: "/home/u/m"}},
	}
	var procs []idFixProc
	for i := range tests {
		if tests[i].proc.pid == 0 {
			tests[i].proc.pid = 400 + i
		}
		procs = append(procs, tests[i].proc)
	}
	env := idFixture(t, files, procs)
	got := idRun(t, env, "process.miner_config")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := got[tt.proc.pid]
			if len(fs) != len(tt.want) {
				t.Fatalf("got %d findings %q, want %d", len(fs), idRules(fs), len(tt.want))
			}
			for i, w := range tt.want {
				f := fs[i]
				ev := f.Evidence
				gotW := want{f.Rule, f.Severity.String(), ev.Path, ev.Details["found_by"], ev.URL, ev.Domain, ev.Wallet, ev.Details["format"]}
				if gotW != w {
					t.Errorf("finding %d = %+v, want %+v", i, gotW, w)
				}
				if ev.PID != tt.proc.pid || f.Signal != "identity" {
					t.Errorf("pid %d signal %s", ev.PID, f.Signal)
				}
				if w.wallet == idWallet && ev.Coin != "XMR" {
					t.Errorf("coin = %q", ev.Coin)
				}
				if w.format == "xmrig" && !slices.Contains(ev.Match, "pools[0].url") {
					t.Errorf("match = %q", ev.Match)
				}
			}
		})
	}
	if _, ok := got[0]; ok {
		t.Errorf("findings without a pid: %+v", got[0])
	}
}
