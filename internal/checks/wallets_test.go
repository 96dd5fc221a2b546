package checks

import (
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
)

func TestFilesWallets(t *testing.T) {
	bdb := strings.Repeat("\x00", 12) + "\x62\x31\x05\x00" + strings.Repeat("\x00", 100)
	keystore := `{"address":"8ba1f109551bd432803012645ac136ddd64dba72","crypto":{"cipher":"aes-128-ctr"},"id":"x","version":3}`
	cases := []struct {
		name  string
		files map[string]fxFile
		want  []wantFinding
	}{
		{
			name: "wallet files",
			files: map[string]fxFile{
				"/home/alice/Monero/wallets/main/main.keys":  {"\x01\x02encrypted", 0o600},
				"/home/alice/Monero/wallets/main/main":       {"cache", 0o600},
				"/home/alice/lonely.keys":                    {"x", 0}, // no sibling: an SSH or GPG export
				"/root/.bitcoin/wallets/w1/wallet.dat":       {"SQLite format 3\x00" + strings.Repeat("\x00", 100), 0o600},
				"/home/bob/.litecoin/wallet.dat":             {bdb, 0o600},
				"/home/bob/backup/wallet.dat":                {"just text", 0},
				"/home/bob/.electrum/wallets/default_wallet": {`{"seed_version": 18}`, 0o600},
				"/home/bob/.ethereum/keystore/UTC--2016-03-22T12-57-55.920751759Z--8ba1f109551bd432803012645ac136ddd64dba72": {keystore, 0o600},
				"/home/bob/.ethereum/keystore/UTC--2016-03-22T12-57-55.920751759Z--0000000000000000000000000000000000000000": {`{"address":"0"}`, 0},
			},
			want: []wantFinding{
				{"files.wallet", findings.Low, "/home/alice/Monero/wallets/main/main.keys", 0},
				{"files.wallet", findings.Low, "/root/.bitcoin/wallets/w1/wallet.dat", 0},
				{"files.wallet", findings.Low, "/home/bob/.litecoin/wallet.dat", 0},
				{"files.wallet", findings.Low, "/home/bob/.electrum/wallets/default_wallet", 0},
				{"files.wallet", findings.Low, "/home/bob/.ethereum/keystore/UTC--2016-03-22T12-57-55.920751759Z--8ba1f109551bd432803012645ac136ddd64dba72", 0},
			},
		},
		{
			name: "mining managers",
			files: map[string]fxFile{
				"/hive/bin/hello":                       {"#!/bin/bash\n", 0o755},
				"/hive-config/rig.conf":                 {"RIG_ID=1\n", 0},
				"/home/minerstat/minerstat-os/":         {"", 0},
				"/home/carol/.config/nhm/settings.json": {"{}", 0},
			},
			want: []wantFinding{
				{"files.mining_manager", findings.Medium, "/hive/bin", 0},
				{"files.mining_manager", findings.Medium, "/hive-config/rig.conf", 0},
				{"files.mining_manager", findings.Medium, "/home/minerstat/minerstat-os", 0},
				{"files.mining_manager", findings.Medium, "/home/carol/.config/nhm", 0},
			},
		},
		{
			name: "shell histories",
			files: map[string]fxFile{
				"/root/.bash_history":                        {"ls -la\ncd /tmp\nwget https://github.com/xmrig/xmrig/releases/x.tar.gz\nnohup ./xmrig -o pool.supportxmr.com:443 -u W &\nnohup ./xmrig -o pool.supportxmr.com:443 -u W &\nkillall xmrig\nsudo apt install xmrig\n", 0o600},
				"/home/dave/.zsh_history":                    {": 1700000000:0;git status\n: 1700000001:0;screen -dmS m ./kx --url stratum+tcp://203.0.113.9:3333\n", 0o600},
				"/home/erin/.ash_history":                    {"vim notes\nmonero-wallet-cli --wallet-file w\n", 0},
				"/home/frank/.local/share/fish/fish_history": {"- cmd: ls\n  when: 1700000000\n- cmd: sudo ./cpuminer -a sha256d\n", 0},
				"/home/gina/.bash_history":                   {"ssh -o StrictHostKeyChecking=no host\ngcc -o miner miner.c\nman xmrig\n", 0},
			},
			want: []wantFinding{
				{"files.history_miner", findings.Medium, "/root/.bash_history", 4},
				{"files.history_miner", findings.Medium, "/home/dave/.zsh_history", 2},
				{"files.history_miner", findings.Low, "/home/erin/.ash_history", 2},
				{"files.history_miner", findings.Medium, "/home/frank/.local/share/fish/fish_history", 3},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, _ := filesFixture(t, c.files)
			got := runFileCheck(t, "files.wallets", env)
			checkFindings(t, got, c.want)
		})
	}
}

func TestFilesWalletsHistoryEvidence(t *testing.T) {
	env, _ := filesFixture(t, map[string]fxFile{
		"/home/dave/.zsh_history": {": 1700000001:0;screen -dmS m ./kx --url stratum+tcp://203.0.113.9:3333\n", 0o600},
		"/root/.bash_history":     {"cd\n./xmrig -c c.json\n", 0o600},
	})
	got := runFileCheck(t, "files.wallets", env)
	if len(got) != 2 {
		t.Fatalf("got %d findings", len(got))
	}
	for _, f := range got {
		switch f.Evidence.Path {
		case "/home/dave/.zsh_history":
			if f.Evidence.User != "dave" || f.Evidence.URL != "stratum+tcp://203.0.113.9:3333" || f.Evidence.Content != "screen -dmS m ./kx --url stratum+tcp://203.0.113.9:3333" {
				t.Errorf("evidence %+v", f.Evidence)
			}
		case "/root/.bash_history":
			if f.Evidence.User != "root" || f.Evidence.Line != 2 || len(f.Evidence.Match) != 1 || f.Evidence.Match[0] != "xmrig" {
				t.Errorf("evidence %+v", f.Evidence)
			}
		}
	}
}

func FuzzParseHistory(f *testing.F) {
	env := NewEnv(nil, intel.MustLoad(), nil, nil)
	fi, err := loadFilesIntel(env.Intel)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(": 1:0;nohup ./xmrig -o stratum+tcp://a:1 &\n- cmd: sudo xmrig\n"))
	f.Add([]byte("screen -dmS ; | & ` ( -o"))
	f.Fuzz(func(t *testing.T, b []byte) {
		hs := parseHistory(env, fi, b, 10)
		if len(hs) > 10 {
			t.Fatalf("limit ignored: %d", len(hs))
		}
		for _, h := range hs {
			if h.line <= 0 || h.content == "" {
				t.Fatalf("bad entry %+v", h)
			}
		}
	})
}
