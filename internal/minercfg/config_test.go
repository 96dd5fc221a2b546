package minercfg

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/intel"
)

const testWallet = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

var db = intel.MustLoad()

func hosts(us []PoolURL) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Host+":"+u.Port)
	}
	return out
}

func TestParseConfigFixtures(t *testing.T) {
	tests := []struct {
		file       string
		format     Format
		hosts      []string
		users      []string
		algos      []string
		coins      []string
		keysHave   []string
		stratumAny bool
	}{
		{file: "xmrig_config.json", format: FormatXMRig,
			hosts: []string{"pool.supportxmr.com:443", "backup.pool.example:3333"},
			users: []string{testWallet, testWallet + ".rig2"}, algos: []string{"rx/0"},
			keysHave: []string{"pools[0].url", "pools[1].url", "donate-level", "randomx"}, stratumAny: true},
		{file: "xmrstak_pools.txt", format: FormatXMRStak,
			hosts: []string{"xmr-eu1.nanopool.org:14433"}, users: []string{testWallet}, coins: []string{"monero"},
			keysHave: []string{"pool_list[0].pool_address"}},
		{file: "xmrstak_config.txt", format: FormatXMRStak,
			keysHave: []string{"call_timeout", "verbose_level", "use_slow_memory"}},
		{file: "cpuminer.json", format: FormatCPUMiner,
			hosts: []string{"litecoinpool.example:3333"}, users: []string{"worker.1"}, algos: []string{"scrypt"},
			keysHave: []string{"url", "algo"}, stratumAny: true},
		{file: "ccminer.json", format: FormatXMRig,
			hosts: []string{"rvn.pool.example:3636"}, users: []string{"RDDcZhkQvxqwS6bgKozp7x3Jx9yLCpoMYo.rig"}, algos: []string{"kawpow"},
			keysHave: []string{"pools[0].url"}, stratumAny: true},
		{file: "generic.json", format: FormatGeneric,
			hosts: []string{"gulf.moneroocean.stream:10128"}, users: []string{testWallet},
			keysHave: []string{"miner.connection.pool", "miner.connection.wallet"}},
		{file: "generic_scheme.json", format: FormatGeneric,
			hosts: []string{"eth.pool.example:5555"}, keysHave: []string{"jobs[0].args[1]"}, stratumAny: true},
		{file: "benign_pgbouncer.json", format: FormatUnknown},
		{file: "benign_vscode.json", format: FormatUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseConfig(tt.file, b, db)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if c.Format != tt.format {
				t.Errorf("format = %q, want %q", c.Format, tt.format)
			}
			if got := hosts(c.URLs); !slices.Equal(got, tt.hosts) {
				t.Errorf("hosts = %q, want %q", got, tt.hosts)
			}
			if !slices.Equal(c.Users, tt.users) {
				t.Errorf("users = %q, want %q", c.Users, tt.users)
			}
			if !slices.Equal(c.Algorithms, tt.algos) {
				t.Errorf("algorithms = %q, want %q", c.Algorithms, tt.algos)
			}
			if !slices.Equal(c.Coins, tt.coins) {
				t.Errorf("coins = %q, want %q", c.Coins, tt.coins)
			}
			for _, k := range tt.keysHave {
				if !slices.Contains(c.Keys, k) {
					t.Errorf("keys %q lack %q", c.Keys, k)
				}
			}
			if tt.format == FormatUnknown && (c.IsMiner() || len(c.Keys) > 0) {
				t.Errorf("benign file recognised as miner config: %+v", c)
			}
			stratum := false
			for _, u := range c.URLs {
				stratum = stratum || u.Stratum
			}
			if stratum != tt.stratumAny {
				t.Errorf("stratum = %v, want %v", stratum, tt.stratumAny)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		file  string
		field string
		line  int
		text  string
	}{
		{"bad_url_type.json", "pools[1].url", 0, "bad_url_type.json: pools[1].url: want a string, got a number"},
		{"bad_syntax.json", "", 3, "bad_syntax.json:3: invalid character '\"' after object key:value pair"},
		{"bad_comment.txt", "", 1, "bad_comment.txt:1: comment /* is never closed"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseConfig(tt.file, b, db)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			if pe.Field != tt.field || pe.Line != tt.line || pe.File != tt.file {
				t.Errorf("err = %+v, want field %q line %d", pe, tt.field, tt.line)
			}
			if err.Error() != tt.text {
				t.Errorf("message = %q, want %q", err.Error(), tt.text)
			}
		})
	}
}

func TestParseConfigInline(t *testing.T) {
	tests := []struct {
		name, in string
		format   Format
		err      string
	}{
		{"empty", "", "", "x: empty file"},
		{"spaces", "  \n ", "", "x: empty file"},
		{"too big", strings.Repeat(" ", MaxSize+1), "", "x: file is 1048577 bytes, more than the 1048576 a miner config can be"},
		{"array of strings", `["stratum+tcp://a.example:1", 1]`, FormatGeneric, ""},
		{"scalar", `42`, "", "x:1: invalid character '4' looking for beginning of object key string"},
		{"trailing data", `{} {}`, "", "x:1: data after the top-level value"},
		{"donate-level string", `{"donate-level": "1", "pools": []}`, "", "x: donate-level: want a number, got a string"},
		{"pool_list not array", `"pool_list": {"a": 1}`, "", "x: pool_list: want an array, got an object"},
		{"pools entry not object", `{"pools": ["a"]}`, "", "x: pools[0]: want an object, got a string"},
		{"wallet not string", `"pool_list": [{"pool_address": "p.example:1", "wallet_address": 5}]`, "", "x: pool_list[0].wallet_address: want a string, got a number"},
		{"comment in string kept", `{"url": "stratum+tcp://a.example:1//x", "algo": "rx/0"}`, FormatCPUMiner, ""},
		{"hash comment", "# miner\n{\"pools\": [{\"url\": \"p.example:3333\", \"user\": \"u\"}]}", FormatXMRig, ""},
		{"deep", strings.Repeat("[", 40) + strings.Repeat("]", 40), "", "x: " + strings.Repeat("[0]", 33) + ": nested deeper than 32 levels"},
		{"url without port not pool", `{"pools": [{"url": "pool", "user": "u"}]}`, FormatUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("x", []byte(tt.in), db)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Format != tt.format {
				t.Errorf("format = %q, want %q", c.Format, tt.format)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	txt, _ := filepath.Glob("testdata/*.txt")
	for _, name := range append(files, txt...) {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`"a": "/*", "b": [1,],`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig("fuzz.json", b, db)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "fuzz.json" {
				t.Fatalf("error %v is not a ParseError naming the file", err)
			}
			return
		}
		for _, u := range c.URLs {
			if u.Host == "" {
				t.Fatalf("pool with empty host: %+v", u)
			}
		}
		if len(c.Pools) > 0 && !c.IsMiner() {
			t.Fatalf("pools without a format: %+v", c)
		}
	})
}
