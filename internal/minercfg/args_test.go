package minercfg

import (
	"slices"
	"strings"
	"testing"
)

func values(vs []ArgValue) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Flag+" "+v.Value)
	}
	return out
}

func urls(us []PoolURL) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Flag+" "+u.Host+":"+u.Port)
	}
	return out
}

func TestPoolsFromArgs(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		urls    []string
		users   []string
		algos   []string
		configs []string
		args0   []string // exact args of the first URL
	}{
		{name: "xmrig", argv: "xmrig -o stratum+tcp://pool.example:3333 -u " + testWallet + " --donate-level 1",
			urls: []string{"-o pool.example:3333"}, users: []string{"-u " + testWallet},
			args0: []string{"-o", "stratum+tcp://pool.example:3333"}},
		{name: "equals forms", argv: "miner --url=pool.example:4444 --user=bob -a=rx/0",
			urls: []string{"--url pool.example:4444"}, users: []string{"--user bob"}, algos: []string{"-a rx/0"},
			args0: []string{"--url=pool.example:4444"}},
		{name: "short equals and concatenated", argv: "m -o=10.0.0.1:3333 -ostratum+ssl://[2001:db8::1]:443",
			urls: []string{"-o 10.0.0.1:3333", "-o 2001:db8::1:443"}},
		{name: "ethminer userinfo", argv: "ethminer -P stratum1+tcp://0x52908400098527886E0F7030069857D2E4169EE7.w1@eth.pool.example:4444",
			urls: []string{"-P eth.pool.example:4444"}, users: []string{"-P 0x52908400098527886E0F7030069857D2E4169EE7.w1"}},
		{name: "scheme in shell script", argv: "sh -c cd /tmp;./x -o stratum+tcp://p.example:80 -k",
			urls: []string{" p.example:80"}, configs: []string{"-c cd"}},
		{name: "algorithm word", argv: "cpuminer rx/0 --user u", users: []string{"--user u"}, algos: []string{" rx/0"}},
		{name: "config forms", argv: "xmrig -c /etc/x.json --config=cfg.json --config other.json",
			configs: []string{"-c /etc/x.json", "--config cfg.json", "--config other.json"}},
		{name: "gcc", argv: "gcc -O2 -o x x.c"},
		{name: "python", argv: "python3 train.py --lr 0.01 --epochs 10 -o out/"},
		{name: "ssh", argv: "ssh -o StrictHostKeyChecking=no host"},
		{name: "ssh proxy", argv: "ssh -o ProxyCommand=nc %h:%p host"},
		{name: "curl file", argv: "curl -o file.tar https://example.com/file.tar"},
		{name: "url flag no port", argv: "x -o pool.example"},
		{name: "bad port", argv: "x -o pool.example:99999"},
		{name: "ftp scheme", argv: "x --url ftp://files.example:21"},
		{name: "dangling flag", argv: "xmrig -o"},
		{name: "user flag value is flag", argv: "ps -u -e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := strings.Split(tt.argv, " ")
			if tt.name == "scheme in shell script" {
				argv = []string{"sh", "-c", "cd /tmp;./x -o stratum+tcp://p.example:80 -k"}
				tt.configs = []string{"-c cd /tmp;./x -o stratum+tcp://p.example:80 -k"}
			}
			a := PoolsFromArgs(argv, db)
			if got := urls(a.URLs); !slices.Equal(got, tt.urls) {
				t.Errorf("urls = %q, want %q", got, tt.urls)
			}
			if got := values(a.Users); !slices.Equal(got, tt.users) {
				t.Errorf("users = %q, want %q", got, tt.users)
			}
			if got := values(a.Algorithms); !slices.Equal(got, tt.algos) {
				t.Errorf("algorithms = %q, want %q", got, tt.algos)
			}
			if got := values(a.Configs); !slices.Equal(got, tt.configs) {
				t.Errorf("configs = %q, want %q", got, tt.configs)
			}
			if tt.args0 != nil && !slices.Equal(a.URLs[0].Args, tt.args0) {
				t.Errorf("args = %q, want %q", a.URLs[0].Args, tt.args0)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in                 string
		ok, stratum        bool
		scheme, host, port string
	}{
		{"stratum+tcp://Pool.Example.:3333", true, true, "stratum+tcp", "pool.example", "3333"},
		{"stratum+ssl://pool.example", true, true, "stratum+ssl", "pool.example", ""},
		{"pool.example:3333", true, false, "", "pool.example", "3333"},
		{"tcp://1.2.3.4:5", true, false, "tcp", "1.2.3.4", "5"},
		{"https://example.com", false, false, "https", "", ""},
		{"file:///etc/passwd", false, false, "file", "", ""},
		{"a b:1", false, false, "", "", ""},
		{"host:1", false, false, "", "", ""},
		{"[::1]:3333", true, false, "", "::1", "3333"},
		{"[::1", false, false, "", "", ""},
		{"x.example:0", false, false, "", "", ""},
		{"-bad-.example:1", false, false, "", "", ""},
	}
	for _, tt := range tests {
		u, ok := ParseURL(tt.in, db)
		if ok != tt.ok {
			t.Errorf("%q: ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if ok && (u.Stratum != tt.stratum || u.Scheme != tt.scheme || u.Host != tt.host || u.Port != tt.port) {
			t.Errorf("%q: got %+v", tt.in, u)
		}
	}
}

func FuzzPoolsFromArgs(f *testing.F) {
	f.Add("xmrig\x00-o\x00stratum+tcp://pool.example:3333\x00-u\x00" + testWallet)
	f.Add("ethminer\x00-P\x00stratum1+tcp://0xab.w@[::1]:4444/x")
	f.Add("sh\x00-c\x00./x --url=p.example:1 -a rx/0 -ox.example:2")
	f.Add("ssh\x00-o\x00StrictHostKeyChecking=no\x00host")
	f.Fuzz(func(t *testing.T, s string) {
		argv := strings.Split(s, "\x00")
		a := PoolsFromArgs(argv, db)
		for _, u := range a.URLs {
			if u.Host == "" || len(u.Args) == 0 {
				t.Fatalf("url without host or args: %+v", u)
			}
			for _, w := range u.Args {
				if !slices.Contains(argv, w) {
					t.Fatalf("arg %q not in argv", w)
				}
			}
		}
		for _, v := range append(append(a.Users, a.Algorithms...), a.Configs...) {
			if v.Index >= len(argv) {
				t.Fatalf("index out of range: %+v", v)
			}
		}
	})
}
