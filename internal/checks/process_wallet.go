package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/minercfg"
	"github.com/minerguard/minerguard/internal/process"
)

func init() {
	registerFunc(Info{
		ID:          "process.wallet",
		Title:       "Cryptocurrency wallet addresses in process arguments and environment",
		Description: "Finds wallet addresses (intel wallets.json) in every process's argv and environment; an address where a miner takes its user is the strongest form.",
		Needs:       NeedsProc,
		Default:     true,
	}, checkWallet)
}

// secretEnvWords mark environment variables that hold keys, hashes and
// tokens: hex there is a digest or key, not a payout address.
var secretEnvWords = []string{"KEY", "SECRET", "HASH", "TOKEN", "SHA", "COMMIT", "REV", "DIGEST", "SIGNATURE", "NONCE", "SALT", "ID"}

// walletHit is one address found, and where.
type walletHit struct {
	m intel.WalletMatch
	// where is "argv[3]" or "environ FOO"; userPos says it was the value
	// of a user flag (or the user part of a pool URL).
	where   string
	userPos bool
	secret  bool
}

func checkWallet(_ context.Context, env *Env) ([]findings.Finding, error) {
	var out []findings.Finding
	for _, p := range env.UserProcesses() {
		hits := walletHits(env, p)
		if f, ok := walletFinding(env, p, hits); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

func walletHits(env *Env, p *process.Process) []walletHit {
	db := env.Intel
	var hits []walletHit
	userIdx := map[int]bool{}
	userVals := map[string]bool{}
	if len(p.Cmdline) > 1 {
		for _, u := range minercfg.PoolsFromArgs(p.Cmdline, db).Users {
			if u.Index >= 0 {
				userIdx[u.Index] = true
			}
			userVals[u.Value] = true
		}
	}
	seen := map[string]bool{}
	for i, a := range p.Cmdline {
		for _, m := range db.FindWallets(a) {
			if seen[m.Address] {
				continue
			}
			seen[m.Address] = true
			user := userIdx[i] || userVals[m.Address]
			for v := range userVals {
				// "-u WALLET.worker", "0xWALLET.rig@pool": the address
				// leads the user value.
				if strings.HasPrefix(v, m.Address) {
					user = true
				}
			}
			hits = append(hits, walletHit{m: m, where: fmt.Sprintf("argv[%d]", i), userPos: user})
		}
	}
	environ, err := p.Environ()
	if err != nil {
		// Other users' environments need root; that is not a finding.
		return hits
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		for _, m := range db.FindWallets(v) {
			if seen[m.Address] {
				continue
			}
			seen[m.Address] = true
			hits = append(hits, walletHit{m: m, where: "environ " + Printable(k, 64), secret: secretEnvName(k)})
		}
	}
	return hits
}

func secretEnvName(k string) bool {
	u := strings.ToUpper(k)
	for _, part := range strings.FieldsFunc(u, func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
		for _, w := range secretEnvWords {
			if part == w || (len(w) >= 3 && strings.Contains(part, w)) {
				return true
			}
		}
	}
	return false
}

// walletFinding grades the best address of a process: a strong pattern is
// high anywhere; a weak one (legacy BTC, 0x-hex) is medium at a miner's
// user position, low elsewhere, and info in a variable holding a secret or
// hash, where 40 hex digits are a digest far more often than an address.
func walletFinding(env *Env, p *process.Process, hits []walletHit) (findings.Finding, bool) {
	if len(hits) == 0 {
		return findings.Finding{}, false
	}
	grade := func(h walletHit) (findings.Severity, float64) {
		switch {
		case h.m.Strength == "strong" && !h.secret:
			return findings.High, 0.9
		case h.m.Strength == "strong":
			return findings.Medium, 0.6
		case h.secret:
			return findings.Info, 0.1
		case h.userPos:
			return findings.Medium, 0.6
		}
		return findings.Low, 0.25
	}
	best := 0
	bestSev, bestConf := grade(hits[0])
	for i := 1; i < len(hits); i++ {
		if s, c := grade(hits[i]); s > bestSev {
			best, bestSev, bestConf = i, s, c
		}
	}
	h := hits[best]
	ev := env.ProcessEvidence(p)
	ev.Wallet = h.m.Address
	ev.Coin = h.m.Coin
	for _, o := range hits {
		ev.Match = append(ev.Match, fmt.Sprintf("%s: %s %s", o.where, o.m.Name, o.m.Address))
	}
	rule := "process.wallet"
	if h.m.Strength != "strong" {
		rule = "process.wallet.weak"
	}
	where := "in its arguments"
	if strings.HasPrefix(h.where, "environ") {
		where = "in its environment"
	}
	if h.userPos {
		where = "as the user it mines for"
	}
	desc := fmt.Sprintf("The process carries the %s %s %s (%s).", h.m.Name, h.m.Address, where, h.where)
	if h.m.Strength != "strong" {
		desc += " This address format is short and generic; on its own it may be something else."
	}
	return findings.Finding{
		Rule:        rule,
		Severity:    bestSev,
		Signal:      findings.SignalIdentity,
		Title:       fmt.Sprintf("%s (pid %d) carries a %s wallet address", Printable(p.Name(), 32), p.PID, h.m.Coin),
		Description: desc,
		Evidence:    ev,
		Remediation: "A payout address on a command line or environment is how miners are told whom to pay: confirm with the owner, then stop the process and record the address for the incident report.",
		Confidence:  bestConf,
	}, true
}
