package respond

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/firewall"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/pkgdb"
	"github.com/minerguard/minerguard/internal/version"
)

// Options select what a plan acts on.
type Options struct {
	// MinSeverity: incidents and stand-alone findings below it are left alone.
	MinSeverity findings.Severity
	// Incidents, when set, limits the plan to these incident ids.
	Incidents []string
	// AllowPackageFiles lets the plan quarantine files a package owns;
	// without it such a plan is refused.
	AllowPackageFiles bool
	// RestoreOrig puts back a ".orig" copy of a replaced system binary
	// when the malware left one.
	RestoreOrig bool
	// NoBlock leaves /etc/hosts alone.
	NoBlock bool
	// Self is minerguard's own pid (0 offline); it and its ancestors are
	// never signalled.
	Self int
}

// maxLineEdit is the longest line removed automatically: a longer one (a
// minified web page on one line) holds too much of the owner's content to
// drop, and is left to a person.
const maxLineEdit = 4096

// strategy says how a rule's finding is answered.
type strategy int

const (
	stratNone       strategy = iota // process/network findings: answered by freeze/kill/block
	stratLine                       // remove the evidence line
	stratQuarantine                 // quarantine the evidence path
	stratService                    // disable a unit or init script, with its links
	stratPreload                    // /etc/ld.so.preload: drop the library lines, quarantine the libraries
	stratLock                       // lock the account
	stratPackage                    // a replaced packaged file: reinstall advice, .orig restore
	stratAdvise                     // a person decides (wallets, containers, histories)
)

// ruleStrategies maps rule ids (or prefixes ending in ".") to strategies;
// the longest match wins.
var ruleStrategies = map[string]strategy{
	"persistence.cron.":               stratLine,
	"persistence.startup.":            stratLine,
	"persistence.services.":           stratService,
	"process.preload.file":            stratPreload,
	"preload.library.":                stratQuarantine,
	"accounts.ssh.key_command":        stratLine,
	"accounts.uid0":                   stratLock,
	"accounts.duplicate_uid":          stratLock,
	"accounts.recent_privileged":      stratLock,
	"files.miner_binary":              stratQuarantine,
	"files.miner_config":              stratQuarantine,
	"files.miner_script":              stratQuarantine,
	"files.dropper_script":            stratQuarantine,
	"files.temp_executable":           stratQuarantine,
	"files.hidden_executable":         stratQuarantine,
	"files.packed_executable":         stratQuarantine,
	"files.webroot_miner":             stratQuarantine,
	"files.webroot_executable":        stratQuarantine,
	"files.webminer_wasm":             stratQuarantine,
	"files.webminer":                  stratLine,
	"files.wallet":                    stratAdvise,
	"files.wallets":                   stratAdvise,
	"files.history_miner":             stratAdvise,
	"files.mining_manager":            stratAdvise,
	"integrity.downloader_copy":       stratQuarantine,
	"integrity.unowned_executable":    stratQuarantine,
	"integrity.package_modified":      stratPackage,
	"integrity.tool_wrapper":          stratPackage,
	"integrity.hosts_pool_redirect":   stratLine,
	"containers.":                     stratAdvise,
	"process.":                        stratNone,
	"network.":                        stratNone,
	"gpu.":                            stratNone,
	"persistence.cron.attr_change":    stratLine,
	"accounts.logins.":                stratAdvise,
	"integrity.immutable_file":        stratAdvise,
	"integrity.resolv_nameserver":     stratAdvise,
	"integrity.hosts_pool_blocked":    stratAdvise,
	"integrity.hosts_protected":       stratAdvise,
	"persistence.services.unpackaged": stratService,
}

func strategyOf(rule string) (strategy, bool) {
	best, bestLen, ok := stratAdvise, -1, false
	for k, s := range ruleStrategies {
		if (rule == k || strings.HasSuffix(k, ".") && strings.HasPrefix(rule, k)) && len(k) > bestLen {
			best, bestLen, ok = s, len(k), true
		}
	}
	return best, ok
}

// cron tables hold one job per line; other cron paths (cron.daily
// scripts, at jobs) are whole scripts.
func isCrontab(p string) bool {
	return p == "/etc/crontab" || p == "/etc/anacrontab" || strings.HasPrefix(p, "/etc/cron.d/") ||
		(strings.HasPrefix(p, "/var/spool/cron/") && !strings.Contains(p, "/atjobs/") && !strings.Contains(p, "/at/") && !strings.Contains(p, "/atspool/"))
}

// Build turns a report into a plan for host h. A plan that would remove
// packaged files comes back with ErrPackageFiles (and its Refusals filled)
// unless opts allow it. procs are the processes the
// plan freezes and kills (see Processes); they are the caller's because
// finding them needs the live process table.
func Build(ctx context.Context, h host.Host, rep *findings.Report, procs []Proc, opts Options) (*Plan, error) {
	b := &builder{h: h, rep: rep, opts: opts, plan: &Plan{Tool: "minerguard " + version.Version, Created: time.Now().UTC(),
		Host: HostIdentity(h), Live: h.Proc() != nil}, quarantined: map[string]int{}, edits: map[string]int{}}
	selected := b.selectFindings()
	if len(procs) > 0 {
		b.processActions(procs)
	}
	for _, i := range selected {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.answer(i)
	}
	b.blockDomains(selected)
	b.blockAddrs(selected)
	err := b.checkPackages()
	sortActions(b.plan.Actions)
	return b.plan, err
}

type builder struct {
	h           host.Host
	rep         *findings.Report
	opts        Options
	plan        *Plan
	quarantined map[string]int // path -> action index
	edits       map[string]int // path -> remove_lines action index
	pkgTool     *pkgdb.DB      // the package manager, for reinstall commands
	pkgToolRead bool
}

// selectFindings returns the findings the plan answers: those of selected
// incidents at or above the threshold, and stand-alone ones at or above it.
func (b *builder) selectFindings() []int {
	incSev := map[string]findings.Severity{}
	for _, in := range b.rep.Incidents {
		if len(b.opts.Incidents) > 0 && !slices.Contains(b.opts.Incidents, in.ID) {
			continue
		}
		incSev[in.ID] = in.Severity
	}
	var out []int
	for i, f := range b.rep.Findings {
		if f.Signal == findings.SignalHardening || f.Signal == findings.SignalStatus {
			continue
		}
		if f.Incident != "" {
			if s, ok := incSev[f.Incident]; ok && s >= b.opts.MinSeverity {
				out = append(out, i)
			}
			continue
		}
		if len(b.opts.Incidents) == 0 && f.Severity >= b.opts.MinSeverity {
			out = append(out, i)
		}
	}
	return out
}

func (b *builder) add(a Action) int {
	b.plan.Actions = append(b.plan.Actions, a)
	return len(b.plan.Actions) - 1
}

func (b *builder) skip(i int, why string) {
	f := b.rep.Findings[i]
	b.plan.Skipped = append(b.plan.Skipped, fmt.Sprintf("finding %d %s (%s): %s", i, f.Rule, f.Evidence.Path, why))
}

// note ties a finding to an action.
func (b *builder) note(ai, i int) {
	a := &b.plan.Actions[ai]
	f := b.rep.Findings[i]
	if !slices.Contains(a.Findings, i) {
		a.Findings = append(a.Findings, i)
	}
	a.Rules = addUnique(a.Rules, f.Rule)
	a.Severity = findings.Max(a.Severity, f.Severity)
	if a.Incident == "" {
		a.Incident = f.Incident
	}
}

func (b *builder) processActions(procs []Proc) {
	sev := findings.Info
	for _, f := range b.rep.Findings {
		if f.Evidence.PID > 0 {
			for _, p := range procs {
				if p.PID == f.Evidence.PID {
					sev = findings.Max(sev, f.Severity)
				}
			}
		}
	}
	// The processes' own programs and scripts go to the vault with them,
	// answering the finding about the process.
	for _, p := range procs {
		fi := -1
		for i, f := range b.rep.Findings {
			if f.Evidence.PID == p.PID && f.Signal != findings.SignalStatus {
				fi = i
				break
			}
		}
		for _, file := range p.Files {
			ai := b.quarantine(-1, file)
			if ai < 0 {
				continue
			}
			if fi >= 0 {
				b.note(ai, fi)
			}
			b.plan.Actions[ai].Severity = findings.Max(b.plan.Actions[ai].Severity, sev)
		}
	}
	b.add(Action{Kind: KindFreeze, Title: fmt.Sprintf("freeze %d process(es) so none can restart another", len(procs)), Procs: procs, Severity: sev})
	b.add(Action{Kind: KindEvidence, Title: fmt.Sprintf("copy evidence of %d process(es) into the vault", len(procs)), Procs: procs, Severity: sev})
	var remotes []string
	for _, in := range b.rep.Incidents {
		if len(b.opts.Incidents) == 0 || slices.Contains(b.opts.Incidents, in.ID) {
			if in.Severity >= b.opts.MinSeverity {
				remotes = addUnique(remotes, in.Remotes...)
			}
		}
	}
	b.add(Action{Kind: KindKill, Title: fmt.Sprintf("kill %d frozen process(es), then sweep for respawns", len(procs)), Procs: procs, Severity: sev, Remotes: remotes})
}

func (b *builder) answer(i int) {
	f := b.rep.Findings[i]
	strat, known := strategyOf(f.Rule)
	if !known {
		if f.Severity > findings.Info {
			b.skip(i, "no automatic response for this rule")
		}
		return
	}
	p := f.Evidence.Path
	switch strat {
	case stratNone:
		return
	case stratAdvise:
		b.advise(i, "left for a person to decide: "+cmp.Or(f.Remediation, "review it"))
	case stratLine:
		if strings.HasPrefix(f.Rule, "persistence.cron.") && unitName(path.Base(p)) {
			b.service(i, p) // a systemd timer
			return
		}
		if strings.HasPrefix(f.Rule, "persistence.cron.") && !isCrontab(p) {
			b.quarantine(i, p)
			return
		}
		if ls := f.Evidence.Details["lines"]; ls != "" {
			// The check names every line of the infection (a web page
			// with a loader and an inline start call).
			for _, n := range strings.Split(ls, ",") {
				if k, err := strconv.Atoi(n); err == nil {
					b.removeLine(i, p, k)
				}
			}
			return
		}
		b.removeLine(i, p, f.Evidence.Line)
	case stratQuarantine:
		b.quarantine(i, p)
	case stratService:
		b.service(i, p)
	case stratPreload:
		b.preload(i)
	case stratLock:
		b.lock(i)
	case stratPackage:
		b.packageFile(i)
	}
}

func (b *builder) advise(i int, text string) {
	f := b.rep.Findings[i]
	ai := b.add(Action{Kind: KindAdvise, Title: fmt.Sprintf("%s: %s", f.Rule, f.Title), Path: f.Evidence.Path, Advice: text})
	b.note(ai, i)
}

// readLine reads line n of a host file exactly as it is on disk.
func (b *builder) readLine(p string, n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("no line number in the finding")
	}
	data, err := b.h.FS().ReadFile(p)
	if err != nil {
		return nil, err
	}
	lines := splitLines(data)
	if n > len(lines) {
		return nil, fmt.Errorf("line %d is past the end of the file (%d lines)", n, len(lines))
	}
	return lineBody(lines[n-1]), nil
}

func (b *builder) removeLine(i int, p string, n int) {
	if p == "" {
		b.skip(i, "no file in the finding")
		return
	}
	if _, done := b.quarantined[p]; done {
		b.note(b.quarantined[p], i)
		return
	}
	old, err := b.readLine(p, n)
	if err != nil {
		b.skip(i, err.Error())
		return
	}
	if len(old) > maxLineEdit {
		b.advise(i, fmt.Sprintf("line %d of %s is %d bytes long and holds more than the malicious part; edit it by hand", n, p, len(old)))
		return
	}
	e := LineEdit{Line: n, Old: old, Delete: true}
	if ai, ok := b.edits[p]; ok {
		a := &b.plan.Actions[ai]
		if !slices.ContainsFunc(a.Edits, func(x LineEdit) bool { return x.Line == n }) {
			a.Edits = append(a.Edits, e)
			sort.Slice(a.Edits, func(x, y int) bool { return a.Edits[x].Line < a.Edits[y].Line })
			a.Title = fmt.Sprintf("remove %d line(s) from %s", len(a.Edits), p)
		}
		b.note(ai, i)
		return
	}
	ai := b.add(Action{Kind: KindRemoveLines, Title: fmt.Sprintf("remove line %d from %s", n, p), Path: p, Edits: []LineEdit{e}})
	b.edits[p] = ai
	b.note(ai, i)
}

func (b *builder) quarantine(i int, p string) int {
	if p == "" || p == "/" {
		b.skip(i, "no file in the finding")
		return -1
	}
	if ai, ok := b.quarantined[p]; ok {
		if i >= 0 {
			b.note(ai, i)
		}
		return ai
	}
	st, err := b.h.FS().Lstat(p)
	if err != nil {
		if i >= 0 {
			b.skip(i, fmt.Sprintf("%s: %v", p, err))
		}
		return -1
	}
	if st.IsDir() {
		if i >= 0 {
			b.skip(i, p+" is a directory; its files are answered one by one")
		}
		return -1
	}
	what := "file"
	if st.Mode()&fs.ModeSymlink != 0 {
		what = "link"
	}
	ai := b.add(Action{Kind: KindQuarantine, Title: fmt.Sprintf("quarantine %s %s", what, p), Path: p})
	b.quarantined[p] = ai
	if i >= 0 {
		b.note(ai, i)
	}
	// Lines of a file that is quarantined whole need no edit.
	if ei, ok := b.edits[p]; ok {
		b.plan.Actions[ei].Kind = KindAdvise
		b.plan.Actions[ei].Advice = "answered by quarantining the whole file"
		b.plan.Actions[ei].Edits = nil
		delete(b.edits, p)
	}
	return ai
}

// unitDirs are where systemd looks for units and their .wants/.requires links.
var unitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system", "/etc/systemd/user", "/usr/lib/systemd/user"}

// service disables a unit or SysV script: the file and every link that
// enables it; a timer takes its service along and a service its timer.
func (b *builder) service(i int, p string) {
	f := b.rep.Findings[i]
	base := path.Base(p)
	switch {
	case strings.HasPrefix(p, "/etc/init.d/") || strings.HasPrefix(p, "/etc/rc.d/init.d/"):
		b.quarantine(i, p)
		b.sysvLinks(i, p)
	case unitName(base):
		names := []string{base}
		if strings.HasSuffix(base, ".timer") {
			names = append(names, strings.TrimSuffix(base, ".timer")+".service")
		} else if strings.HasSuffix(base, ".service") {
			names = append(names, strings.TrimSuffix(base, ".service")+".timer")
		}
		b.quarantine(i, p)
		dirs := append([]string{path.Dir(p)}, unitDirs...)
		for _, n := range names[1:] {
			for _, d := range dirs {
				if _, err := b.h.FS().Lstat(path.Join(d, n)); err == nil && d != "/lib/systemd/system" && d != "/usr/lib/systemd/system" {
					b.note(b.quarantine(-1, path.Join(d, n)), i)
				}
			}
		}
		for _, d := range dirs {
			b.unitLinks(i, d, names)
		}
	case f.Evidence.Line > 0:
		// rc.local, profiles: the line, not the file.
		b.removeLine(i, p, f.Evidence.Line)
	default:
		b.advise(i, "review "+p+" by hand")
	}
}

func unitName(n string) bool {
	for _, s := range []string{".service", ".timer", ".socket", ".path"} {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// unitLinks quarantines the links in dir's *.wants/*.requires/*.d that
// enable one of names.
func (b *builder) unitLinks(i int, dir string, names []string) {
	es, err := b.h.FS().ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range es {
		n := e.Name()
		if !e.IsDir() || !(strings.HasSuffix(n, ".wants") || strings.HasSuffix(n, ".requires") || strings.HasSuffix(n, ".upholds")) {
			continue
		}
		sub := path.Join(dir, n)
		links, err := b.h.FS().ReadDir(sub)
		if err != nil {
			continue
		}
		for _, l := range links {
			if slices.Contains(names, l.Name()) {
				b.note(b.quarantine(-1, path.Join(sub, l.Name())), i)
			}
		}
	}
}

// sysvLinks quarantines /etc/rc?.d links to an init script.
func (b *builder) sysvLinks(i int, script string) {
	for _, d := range []string{"/etc", "/etc/rc.d"} {
		es, err := b.h.FS().ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range es {
			if !strings.HasPrefix(e.Name(), "rc") || !strings.HasSuffix(e.Name(), ".d") || e.Name() == "rc.d" {
				continue
			}
			rd := path.Join(d, e.Name())
			links, _ := b.h.FS().ReadDir(rd)
			for _, l := range links {
				lp := path.Join(rd, l.Name())
				t, err := b.h.FS().Readlink(lp)
				if err != nil {
					continue
				}
				if !strings.HasPrefix(t, "/") {
					t = path.Join(rd, t)
				}
				if path.Clean(t) == script {
					b.note(b.quarantine(-1, lp), i)
				}
			}
		}
	}
}

// preload removes every ld.so.preload line that names a reported library
// and quarantines the libraries.
func (b *builder) preload(i int) {
	f := b.rep.Findings[i]
	p := f.Evidence.Path
	data, err := b.h.FS().ReadFile(p)
	if err != nil {
		b.skip(i, err.Error())
		return
	}
	libs := f.Evidence.Paths
	var edits []LineEdit
	for n, l := range splitLines(data) {
		body := lineBody(l)
		for _, lib := range libs {
			if bytes.Contains(body, []byte(lib)) {
				edits = append(edits, LineEdit{Line: n + 1, Old: body, Delete: true})
				break
			}
		}
	}
	if len(edits) > 0 {
		ai := b.add(Action{Kind: KindRemoveLines, Title: fmt.Sprintf("remove %d preload entr(ies) from %s", len(edits), p), Path: p, Edits: edits})
		b.edits[p] = ai
		b.note(ai, i)
	}
	for _, lib := range libs {
		if _, err := b.h.FS().Lstat(lib); err == nil {
			b.note(b.quarantine(-1, lib), i)
		}
	}
}

// lock locks a backdoor account: '!' before its shadow hash (passwd's
// field when there is no shadow) and a nologin shell. The account stays,
// so files it owns keep their owner name.
func (b *builder) lock(i int) {
	f := b.rep.Findings[i]
	user := f.Evidence.User
	if user == "" || user == "root" {
		b.skip(i, "not locking root or an unnamed account")
		return
	}
	a := LockAccount(b.h.FS(), user)
	if len(a.Edits) == 0 {
		b.skip(i, "account "+user+" is already locked or not in /etc/passwd")
		return
	}
	for _, x := range b.plan.Actions {
		if x.Kind == KindLockAccount && x.User == user {
			return
		}
	}
	b.note(b.add(a), i)
}

// LockAccount is the action that locks an account: '!' before its shadow
// hash and a nologin shell in passwd. The account itself stays, so files
// it owns keep their owner's name. No edits means nothing left to lock.
func LockAccount(fsys host.FS, user string) Action {
	a := Action{Kind: KindLockAccount, Title: "lock account " + user, User: user}
	for _, fp := range []string{"/etc/shadow", "/etc/passwd"} {
		data, err := fsys.ReadFile(fp)
		if err != nil {
			continue
		}
		for n, l := range splitLines(data) {
			body := lineBody(l)
			fields := bytes.Split(body, []byte(":"))
			if len(fields) < 2 || string(fields[0]) != user {
				continue
			}
			nf := slices.Clone(fields)
			if fp == "/etc/shadow" && !bytes.HasPrefix(fields[1], []byte("!")) {
				nf[1] = append([]byte("!"), fields[1]...)
			}
			if fp == "/etc/passwd" && len(fields) == 7 {
				nf[6] = []byte("/usr/sbin/nologin")
			}
			nb := bytes.Join(nf, []byte(":"))
			if !bytes.Equal(nb, body) {
				a.Edits = append(a.Edits, LineEdit{File: fp, Line: n + 1, Old: body, New: nb})
			}
		}
	}
	return a
}

// packageFile advises reinstalling a replaced packaged file, and plans
// putting the malware's own backup back when it left one.
func (b *builder) packageFile(i int) {
	f := b.rep.Findings[i]
	p := f.Evidence.Path
	pkg := f.Evidence.Details["package"]
	advice := "restore it from its package"
	if cmd := b.reinstallCommand(pkg); cmd != "" {
		advice = "reinstall its package: " + cmd
	}
	b.advise(i, fmt.Sprintf("%s was replaced; %s (minerguard cannot download packages)", p, advice))
	if !b.opts.RestoreOrig {
		return
	}
	for _, suf := range []string{".orig", ".original", ".bak", ".old"} {
		if st, err := b.h.FS().Lstat(p + suf); err == nil && st.Mode().IsRegular() {
			ai := b.add(Action{Kind: KindRestoreOrig, Title: fmt.Sprintf("put back %s from %s", p, p+suf), Path: p, Source: p + suf})
			b.note(ai, i)
			return
		}
	}
}

func (b *builder) reinstallCommand(pkg string) string {
	if pkg == "" {
		return ""
	}
	if !b.pkgToolRead {
		// Only the package manager is wanted, so no directory's files are
		// kept; read once however many replaced files there are.
		b.pkgToolRead = true
		b.pkgTool, _ = pkgdb.Open(b.h.FS(), []string{"/nonexistent-dir-filter"})
	}
	if b.pkgTool == nil {
		return ""
	}
	return b.pkgTool.ReinstallCommand(pkg)
}

// blockDomains sinkholes the pool domains the selected findings name.
func (b *builder) blockDomains(selected []int) {
	if b.opts.NoBlock {
		return
	}
	var domains []string
	var idx []int
	for _, i := range selected {
		f := b.rep.Findings[i]
		if f.Signal != findings.SignalNetwork && !strings.HasPrefix(f.Rule, "process.cmdline.pool") && !strings.HasPrefix(f.Rule, "process.cmdline.stratum") {
			continue
		}
		d := strings.TrimSuffix(strings.ToLower(f.Evidence.Domain), ".")
		if d == "" || !validHostname(d) {
			continue
		}
		domains = addUnique(domains, d)
		idx = append(idx, i)
	}
	if len(domains) == 0 {
		return
	}
	sort.Strings(domains)
	ai := b.add(Action{Kind: KindBlockDomains, Title: fmt.Sprintf("sinkhole %d pool domain(s) in /etc/hosts", len(domains)), Path: "/etc/hosts", Domains: domains})
	for _, i := range idx {
		b.note(ai, i)
	}
}

// cleanTable is the nftables table clean adds pool addresses to; isolate
// and harden keep their own.
const cleanTable = "minerguard_clean"

// blockAddrs drops traffic to and from the pool addresses the selected
// processes used, on a live host. Loopback, link-local, multicast and
// unspecified addresses are never blocked (a local proxy is stopped with
// its process instead).
func (b *builder) blockAddrs(selected []int) {
	if b.opts.NoBlock || b.h.Proc() == nil {
		return
	}
	var addrs []netip.Prefix
	var idx []int
	for _, i := range selected {
		f := b.rep.Findings[i]
		if f.Signal != findings.SignalNetwork || f.Evidence.Remote == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(f.Evidence.Remote)
		if err != nil {
			continue
		}
		a := ap.Addr().Unmap()
		if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() || a.IsLinkLocalMulticast() {
			continue
		}
		p := netip.PrefixFrom(a, a.BitLen())
		if !slices.Contains(addrs, p) {
			addrs = append(addrs, p)
		}
		idx = append(idx, i)
	}
	if len(addrs) == 0 {
		return
	}
	ai := b.add(Action{Kind: KindFirewall, Title: fmt.Sprintf("block %d pool address(es) in nftables table inet %s", len(addrs), cleanTable),
		Firewall: &firewall.Ruleset{Table: cleanTable, BlockAddrs: addrs}})
	for _, i := range idx {
		b.note(ai, i)
	}
}

func validHostname(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, c := range d {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// ErrPackageFiles refuses a plan that would remove files a package owns.
var ErrPackageFiles = errors.New("the plan would remove files owned by a package")

// checkPackages refuses quarantining packaged files unless allowed: such a
// file is more often a system file a check misjudged than malware, and
// removing it can break the host; the right fix is a reinstall.
func (b *builder) checkPackages() error {
	var dirs []string
	for _, a := range b.plan.Actions {
		if a.Kind == KindQuarantine {
			dirs = addUnique(dirs, path.Dir(a.Path))
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	db, err := pkgdb.Open(b.h.FS(), dirs)
	if err != nil {
		return nil // no package database: nothing is packaged
	}
	var owned []string
	for _, a := range b.plan.Actions {
		if a.Kind != KindQuarantine {
			continue
		}
		if pkg := db.Owner(pkgdb.Canonical(b.h.FS(), a.Path)); pkg != "" {
			owned = append(owned, fmt.Sprintf("%s (package %s: %s)", a.Path, pkg, db.ReinstallCommand(pkg)))
		}
	}
	if len(owned) == 0 {
		return nil
	}
	b.plan.Refusals = append(b.plan.Refusals, owned...)
	if b.opts.AllowPackageFiles {
		return nil
	}
	return fmt.Errorf("%w: %s; reinstall the package instead, or pass --allow-package-files", ErrPackageFiles, strings.Join(owned, "; "))
}
