package checks

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/minercfg"
)

func init() {
	registerFunc(Info{
		ID:    "files.wallets",
		Title: "Wallet files, mining management software and miner commands in shell histories",
		Description: "Looks in /root and /home/* for cryptocurrency wallets (Monero .keys, Bitcoin wallet.dat, Electrum, " +
			"Ethereum keystores), for mining managers (HiveOS, minerstat, NiceHash, Awesome Miner, ...) and reads every " +
			"user's shell history for commands that ran a miner or named a pool.",
		Needs:   NeedsFS,
		Default: true,
	}, checkWallets)
}

func checkWallets(ctx context.Context, env *Env) ([]findings.Finding, error) {
	fi, err := loadFilesIntel(env.Intel)
	if err != nil {
		return nil, err
	}
	fsys := env.Host.FS()
	homes := userHomes(fsys)
	var out []findings.Finding
	w := newWalker(fsys, fi.Search.MaxEntries, fi.Search.SkipDirs)
	for _, h := range append(homes, env.Paths...) {
		home := h
		w.walk(ctx, home, walkLimits{
			maxDepth: fi.Wallets.MaxDepth,
			descend: func(dir string, _ int) bool {
				_, ok := env.Intel.HiddenDirAllowed(strings.TrimPrefix(dir, home+"/"))
				return !ok
			},
		}, func(p string, d fs.DirEntry, _ int) {
			if f, ok := walletFileFinding(env, fi, home, p, d); ok {
				out = append(out, f)
			}
		})
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	if w.truncated {
		out = append(out, searchTruncated("files.wallets", fi.Search.MaxEntries))
	}
	out = append(out, managerFindings(env, fi, homes)...)
	for _, h := range homes {
		for _, hf := range fi.History.Files {
			out = append(out, historyFindings(env, fi, path.Join(h, hf))...)
		}
	}
	return out, nil
}

// bdbMagic is Berkeley DB's btree magic at offset 12, in either byte order.
const bdbMagic = 0x00053162

// walletKind says what wallet a file is ("" when none).
func walletKind(env *Env, fi *filesIntel, home, p string, d fs.DirEntry) (coin, kind string) {
	name := d.Name()
	fsys := env.Host.FS()
	switch {
	case fi.Wallets.MoneroKeysExt != "" && strings.HasSuffix(name, fi.Wallets.MoneroKeysExt) && len(name) > len(fi.Wallets.MoneroKeysExt):
		// monero-wallet-cli writes NAME (cache) beside NAME.keys.
		if st, err := fsys.Lstat(strings.TrimSuffix(p, fi.Wallets.MoneroKeysExt)); err == nil && st.Mode().IsRegular() {
			return "XMR", "Monero wallet"
		}
	case containsString(fi.Wallets.BitcoinNames, name):
		f, err := fsys.Open(p)
		if err != nil {
			return "", ""
		}
		defer f.Close()
		h := readHead(f, 16)
		if bytes.HasPrefix(h, []byte("SQLite format 3\x00")) {
			return "BTC", "Bitcoin Core wallet (SQLite)"
		}
		if len(h) >= 16 && (binary.LittleEndian.Uint32(h[12:]) == bdbMagic || binary.BigEndian.Uint32(h[12:]) == bdbMagic) {
			return "BTC", "Bitcoin Core wallet (Berkeley DB)"
		}
	case fi.keystoreRE.MatchString(name):
		b, err := readBounded(fsys, p, 64<<10)
		if err != nil {
			return "", ""
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			return "", ""
		}
		for _, k := range fi.Wallets.KeystoreKeys {
			if _, ok := m[k]; ok {
				return "ETH", "Ethereum keystore"
			}
		}
	}
	rel := strings.TrimPrefix(path.Dir(p), home+"/")
	for _, d := range fi.Wallets.ElectrumDirs {
		if rel == d {
			return "BTC", "Electrum wallet"
		}
	}
	return "", ""
}

func walletFileFinding(env *Env, fi *filesIntel, home, p string, d fs.DirEntry) (findings.Finding, bool) {
	coin, kind := walletKind(env, fi, home, p, d)
	if kind == "" {
		return findings.Finding{}, false
	}
	ev := findings.Evidence{Path: p, Coin: coin, Details: map[string]string{"wallet": kind}}
	if info, err := d.Info(); err == nil {
		ev.Size = info.Size()
	}
	return findings.Finding{
		Rule: "files.wallet", Severity: findings.Low, Signal: findings.SignalIdentity, Confidence: 0.8,
		Title:       fmt.Sprintf("%s in %s", kind, Printable(home, 200)),
		Description: fmt.Sprintf("%s is a %s. Holding a wallet is not mining, but on a shared or institutional host it is a policy question and a lead when a miner is found.", Printable(p, 400), kind),
		Evidence:    ev,
		Remediation: "Check the institution's policy with the account owner; do not copy or open the wallet (it holds private keys).",
	}, true
}

// managerFindings reports installed mining management software ("~/" in
// a path means every home).
func managerFindings(env *Env, fi *filesIntel, homes []string) []findings.Finding {
	fsys := env.Host.FS()
	var out []findings.Finding
	for _, m := range fi.Managers {
		seen := map[string]bool{}
		for _, p := range m.Paths {
			cands := []string{p}
			if rest, ok := strings.CutPrefix(p, "~/"); ok {
				cands = nil
				for _, h := range homes {
					cands = append(cands, path.Join(h, rest))
				}
			}
			for _, c := range cands {
				st, err := fsys.Lstat(c)
				if err != nil || seen[c] {
					continue
				}
				seen[c] = true
				ev := findings.Evidence{Path: c, Details: map[string]string{"manager": m.Name}}
				if st.Mode().IsRegular() {
					ev.Size = st.Size()
				}
				out = append(out, findings.Finding{
					Rule: "files.mining_manager", Severity: findings.Medium, Signal: findings.SignalIdentity, Confidence: 0.7,
					Title:       fmt.Sprintf("Mining management software %s: %s", m.Name, Printable(c, 200)),
					Description: fmt.Sprintf("%s belongs to %s (%s). It runs and remotely controls miners on this host.", Printable(c, 400), m.Name, m.Note),
					Evidence:    ev,
					Remediation: "Confirm the host is meant to be a mining rig; otherwise stop the manager's service, keep its config (rig id, wallet) for the report and remove it.",
				})
			}
		}
	}
	return out
}

// historyCommand is a miner-running line of a shell history.
type historyCommand struct {
	line    int
	content string
	program string // matched program ("" when only a pool URL matched)
	kind    string // miner, malware, manager, wallet
	url     *minercfg.PoolURL
}

// parseHistory finds the lines of a shell history (bash, zsh extended,
// ash, fish) that start a known miner, malware, manager or wallet, or that
// name a mining pool URL. Identical commands are reported once.
func parseHistory(env *Env, fi *filesIntel, b []byte, limit int) []historyCommand {
	var out []historyCommand
	seen := map[string]bool{}
	for i, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		// zsh extended history ": 1700000000:0;cmd", fish "- cmd: cmd".
		if strings.HasPrefix(line, ": ") {
			if _, c, ok := strings.Cut(line, ";"); ok {
				line = strings.TrimSpace(c)
			}
		}
		line = strings.TrimPrefix(line, "- cmd: ")
		if line == "" || strings.HasPrefix(line, "#") || seen[line] {
			continue
		}
		hc, ok := historyLine(env, fi, line)
		if !ok {
			continue
		}
		seen[line] = true
		hc.line, hc.content = i+1, line
		out = append(out, hc)
		if len(out) >= limit {
			break
		}
	}
	return out
}

// historyLine looks at each command of a line ("a | b; c && d").
func historyLine(env *Env, fi *filesIntel, line string) (historyCommand, bool) {
	for _, cmd := range strings.FieldsFunc(line, func(r rune) bool { return r == ';' || r == '|' || r == '&' || r == '(' || r == ')' || r == '`' }) {
		words := strings.Fields(cmd)
		for i := range words {
			words[i] = strings.Trim(words[i], `"'`)
		}
		if len(words) == 0 {
			continue
		}
		// The program is the first word after wrappers (sudo, nohup,
		// screen -dmS name, env VAR=x, timeout 60).
		// One other word may follow a wrapper (its option's value, as in
		// "screen -S name"); "sudo apt install xmrig" installs, not runs.
		slack := 0
		for _, w := range words {
			if fi.wrappers[path.Base(w)] {
				slack = 1
				continue
			}
			if strings.HasPrefix(w, "-") || strings.Contains(w, "=") || isNumber(w) {
				continue
			}
			if p, ok := env.Intel.Program(w); ok {
				return historyCommand{program: p.Name, kind: p.Kind}, true
			}
			if slack == 0 {
				break
			}
			slack--
		}
		for _, u := range minercfg.PoolsFromArgs(words, env.Intel).URLs {
			if u.Stratum {
				u := u
				return historyCommand{url: &u, kind: "miner"}, true
			}
			if _, ok := env.Intel.Domain(u.Host); ok {
				u := u
				return historyCommand{url: &u, kind: "miner"}, true
			}
		}
	}
	return historyCommand{}, false
}

func isNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' && s[i] != 's' && s[i] != 'm' {
			return false
		}
	}
	return s != ""
}

func historyFindings(env *Env, fi *filesIntel, p string) []findings.Finding {
	fsys := env.Host.FS()
	st, err := fsys.Lstat(p)
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	f, err := fsys.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	// A huge history is read from its end: the newest commands matter most.
	size := st.Size()
	off := int64(0)
	if size > fi.History.MaxSize {
		off = size - fi.History.MaxSize
	}
	b := make([]byte, size-off)
	n, _ := f.ReadAt(b, off)
	b = b[:n]
	lineBase := 0
	if off > 0 {
		// Line numbers are relative to the part read; say so.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		lineBase = -1
	}
	user := path.Base(path.Dir(p))
	if strings.HasPrefix(p, "/root/") {
		user = "root"
	}
	var out []findings.Finding
	for _, hc := range parseHistory(env, fi, b, fi.History.MaxPerFile) {
		ev := findings.Evidence{Path: p, Line: hc.line, Content: Printable(hc.content, 500), User: user, Details: map[string]string{}}
		if lineBase < 0 {
			ev.Line = 0
			ev.Details["line_in_tail"] = fmt.Sprint(hc.line)
		}
		sev, conf := findings.Medium, 0.7
		what := "runs " + hc.program
		if hc.url != nil {
			idSetPoolURL(&ev, *hc.url)
			what = "names mining pool " + hc.url.Host
		}
		if hc.program != "" {
			ev.Match = []string{hc.program}
			ev.Details["kind"] = hc.kind
		}
		if hc.kind == "wallet" {
			sev, conf = findings.Low, 0.5
		}
		out = append(out, findings.Finding{
			Rule: "files.history_miner", Severity: sev, Signal: findings.SignalIdentity, Confidence: conf,
			Title:       fmt.Sprintf("Shell history of %s %s", Printable(user, 64), Printable(what, 120)),
			Description: fmt.Sprintf("%s line %d: %s", Printable(p, 300), hc.line, Printable(hc.content, 300)),
			Evidence:    ev,
			Remediation: "Ask the account owner; if the account was not theirs to use, treat it as compromised (reset password and keys, review logins).",
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Evidence.Line < out[j].Evidence.Line })
	return out
}
