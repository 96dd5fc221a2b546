package checks

import (
	"slices"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/intel"
)

func TestWalletFixtures(t *testing.T) {
	const btc = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"
	tests := []struct {
		name    string
		argv    []string
		environ []string
		rules   []string
		wallet  string
		coin    string
		match   []string
	}{
		{name: "xmr at user flag", argv: []string{"xmrig", "-o", "p.example:3333", "-u", idWallet},
			rules: []string{"process.wallet/high"}, wallet: idWallet, coin: "XMR",
			match: []string{"argv[4]: Monero standard address " + idWallet}},
		{name: "xmr with worker suffix", argv: []string{"./x", "--user=" + idWallet + ".rig1"},
			rules: []string{"process.wallet/high"}, wallet: idWallet, coin: "XMR"},
		{name: "xmr in environment", argv: []string{"./run.sh"}, environ: []string{"HOME=/root", "MINING_WALLET=" + idWallet},
			rules: []string{"process.wallet/high"}, wallet: idWallet, coin: "XMR",
			match: []string{"environ MINING_WALLET: Monero standard address " + idWallet}},
		{name: "eth at user flag", argv: []string{"./m", "-o", "p.example:4444", "-u", idHex40},
			rules: []string{"process.wallet.weak/medium"}, wallet: idHex40, coin: "ETH"},
		{name: "eth in pool url userinfo", argv: []string{"ethminer", "-P", "stratum1+tcp://" + idHex40 + ".w1@eth.pool.example:4444"},
			rules: []string{"process.wallet.weak/medium"}, wallet: idHex40, coin: "ETH"},
		{name: "btc at user flag", argv: []string{"cgminer", "--user", btc},
			rules: []string{"process.wallet.weak/medium"}, wallet: btc, coin: "BTC"},
		{name: "eth alone", argv: []string{"./tool", "--address", idHex40},
			rules: []string{"process.wallet.weak/low"}, wallet: idHex40, coin: "ETH"},
		{name: "git commit message", argv: []string{"git", "commit", "-m", "fix " + idHex40},
			rules: []string{"process.wallet.weak/low"}, wallet: idHex40},
		{name: "commit hash in env", argv: []string{"./ci"}, environ: []string{"GIT_COMMIT_SHA=" + idHex40},
			rules: []string{"process.wallet.weak/info"}, wallet: idHex40},
		{name: "key in env", argv: []string{"./svc"}, environ: []string{"DEPLOY_KEY=" + idHex40, "API_SECRET=x" + btc},
			rules: []string{"process.wallet.weak/info"}, wallet: idHex40},
		{name: "eth payout env", argv: []string{"./svc"}, environ: []string{"ETH_PAYOUT=" + idHex40},
			rules: []string{"process.wallet.weak/low"}, wallet: idHex40},
		{name: "strong beats weak", argv: []string{"./x", idHex40}, environ: []string{"W=" + idWallet},
			rules: []string{"process.wallet/high"}, wallet: idWallet,
			match: []string{"argv[1]: Ethereum-style address " + idHex40, "environ W: Monero standard address " + idWallet}},
		{name: "nothing", argv: []string{"python3", "train.py", "--lr", "0.01"}, environ: []string{"PATH=/usr/bin"}},
		{name: "hex too long is no address", argv: []string{"./x", idHex40 + "ab"}},
	}
	var procs []idFixProc
	for i, tt := range tests {
		procs = append(procs, idFixProc{pid: 200 + i, argv: tt.argv, environ: tt.environ, exe: "/usr/bin/x", cwd: "/"})
	}
	env := idFixture(t, nil, procs)
	got := idRun(t, env, "process.wallet")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := got[200+i]
			if r := idRules(fs); !slices.Equal(r, tt.rules) {
				t.Fatalf("rules = %q, want %q", r, tt.rules)
			}
			if len(fs) == 0 {
				return
			}
			ev := fs[0].Evidence
			if ev.PID != 200+i || ev.Wallet != tt.wallet || (tt.coin != "" && ev.Coin != tt.coin) || fs[0].Signal != "identity" {
				t.Errorf("evidence = %+v", ev)
			}
			if tt.match != nil && !slices.Equal(ev.Match, tt.match) {
				t.Errorf("match = %q, want %q", ev.Match, tt.match)
			}
		})
	}
}

func TestSecretEnvName(t *testing.T) {
	for k, want := range map[string]bool{
		"GIT_COMMIT": true, "DEPLOY_KEY": true, "api_secret": true, "CI_COMMIT_SHA": true, "BUILD_ID": true,
		"PASSHASH": true, "WALLET": false, "ETH_PAYOUT": false, "MONKEY": true, "KEYBOARD": true, "IDLE": false,
	} {
		if got := secretEnvName(k); got != want {
			t.Errorf("secretEnvName(%q) = %v, want %v", k, got, want)
		}
	}
}

// TestWalletPatterns checks the intel wallet formats on real-format
// addresses, and that near misses (one character short or long) fail.
func TestWalletPatterns(t *testing.T) {
	db := intel.MustLoad()
	b58 := func(n int) string { return strings.Repeat("z", n) }
	b32 := func(n int) string { return strings.Repeat("q", n) }
	tests := []struct {
		addr, coin, strength string
	}{
		{idWallet, "XMR", "strong"},
		{"8" + "B" + b58(93), "XMR", "strong"},
		{"4" + "A" + b58(104), "XMR", "strong"},
		{"Wo" + b58(95), "WOW", "strong"},
		{"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "BTC", "strong"},
		{"bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297", "BTC", "strong"},
		{"1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "BTC", "weak"},
		{idHex40, "ETH", "weak"},
		{"ltc1q" + b32(38), "LTC", "strong"},
		{"zs1" + b32(75), "ZEC", "strong"},
		{"bitcoincash:q" + b32(41), "BCH", "strong"},
		{"kaspa:q" + b32(61), "KAS", "strong"},
		{"ZEPHYR" + b58(92), "ZEPH", "strong"},
		{"ccx7" + b58(94), "CCX", "strong"},
	}
	for _, tt := range tests {
		got := db.FindWallets("x " + tt.addr + " y")
		if len(got) != 1 || got[0].Address != tt.addr || got[0].Coin != tt.coin || got[0].Strength != tt.strength {
			t.Errorf("%s: got %+v, want one %s %s", tt.addr, got, tt.coin, tt.strength)
		}
	}
	for _, miss := range []string{idWallet[:94], idWallet + "z", idHex40 + "a", "0x" + strings.Repeat("g", 40), "bc1" + b32(30)} {
		if got := db.FindWallets(miss); len(got) != 0 {
			t.Errorf("%s: matched %+v", miss, got)
		}
	}
}
