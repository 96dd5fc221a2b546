package checks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/minercfg"
	"github.com/minerguard/minerguard/internal/process"
)

// resolveTimeout bounds one DNS lookup of a pool name (only with --resolve).
const resolveTimeout = 2 * time.Second

func init() {
	registerFunc(Info{
		ID:    "network.pool",
		Title: "Connections to mining pools: pool addresses, pool domains named on the command line, mining ports",
		Description: "Joins every TCP/UDP socket to its process through /proc/PID/fd socket inodes and judges the remote end " +
			"against pools.json: listed pool addresses, addresses of pool domains the process names (resolved through the " +
			"host's /etc/hosts, and DNS only with --resolve), and mining ports. Connections to pool addresses that no " +
			"visible process owns point at a hidden miner.",
		Needs:   NeedsProc,
		Default: true,
	}, checkNetworkPool)
}

// poolHit is one reason a remote endpoint looks like a pool, ranked so the
// strongest decides the finding and the others are listed beside it.
type poolHit struct {
	rank   int
	rule   string
	sev    findings.Severity
	conf   float64
	domain string
	why    string
}

func checkNetworkPool(ctx context.Context, env *Env) ([]findings.Finding, error) {
	proc := env.Host.Proc()
	if proc == nil || env.Procs == nil {
		return nil, Skipped("no process view")
	}
	socks, err := env.Sockets(ctx)
	if err != nil && len(socks) == 0 {
		return nil, fmt.Errorf("listing sockets: %w", err)
	}
	self := proc.Self()
	res := newPoolResolver(env)
	// Joining sockets to processes means reading every process's fd table,
	// the costliest part of the check: do it only when some socket could
	// lead to a finding (on a clean host, none does).
	var owners map[uint64]*process.Process
	var blind map[int]bool
	if worth := suspectSockets(ctx, env, res); slices.ContainsFunc(socks, worth) {
		owners, blind = socketOwners(env.Procs.All())
	}

	var out []findings.Finding
	seen := map[string]bool{}
	var unowned []host.Socket
	for _, s := range socks {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		p := owners[s.Inode]
		if p != nil && p.PID == self {
			continue
		}
		if s.State == "LISTEN" {
			if f, ok := miningListener(env, s, p); ok {
				// A dual-stack proxy shows one listener per family.
				key := fmt.Sprintf("%s|%d|%d", f.Rule, f.Evidence.PID, s.Local.Port())
				if !seen[key] {
					seen[key] = true
					out = append(out, f)
				}
			}
			continue
		}
		if !connected(s) {
			continue
		}
		if p == nil {
			// Inode 0 is a connection not yet accept()ed or already
			// orphaned: nobody to attribute. Otherwise a pool connection
			// is judged after every owned socket, because its owner may
			// have started after the snapshot. Without an owner, a port
			// alone says too little to report.
			if _, ok := env.Intel.IP(s.Remote.Addr()); ok && s.Inode != 0 {
				unowned = append(unowned, s)
			}
			continue
		}
		hits := judgeRemote(ctx, env, res, s, p)
		if len(hits) == 0 {
			continue
		}
		f := poolFinding(env, s, p, hits)
		key := fmt.Sprintf("%s|%d|%s|%s", f.Rule, f.Evidence.PID, f.Evidence.Remote, s.Proto)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, f)
	}
	if len(unowned) > 0 {
		out = append(out, unownedFindings(ctx, env, proc, unowned, res, blind)...)
	}
	return out, nil
}

// suspectSockets returns a filter for sockets that any rule of this check
// could report: listeners on strong mining ports, and connections to a
// pool address, a mining port, or an endpoint some process names as its
// pool (directly or through a pool name the resolver knows).
func suspectSockets(ctx context.Context, env *Env, res *poolResolver) func(host.Socket) bool {
	declared := map[netip.AddrPort]bool{}
	named := map[netip.Addr]bool{}
	for _, p := range env.UserProcesses() {
		for _, t := range poolTargets(env, p.Cmdline) {
			if t.ip.IsValid() {
				declared[netip.AddrPortFrom(t.ip, t.port)] = true
				continue
			}
			for _, a := range res.lookup(ctx, t.host) {
				named[a.Unmap()] = true
			}
		}
	}
	return func(s host.Socket) bool {
		if s.State == "LISTEN" {
			port, ok := env.Intel.Port(s.Local.Port())
			return ok && port.Weight == "strong"
		}
		if !connected(s) {
			return false
		}
		remote := netip.AddrPortFrom(s.Remote.Addr().Unmap(), s.Remote.Port())
		if _, ok := env.Intel.IP(remote.Addr()); ok {
			return true
		}
		if _, ok := env.Intel.Port(remote.Port()); ok {
			return true
		}
		return declared[remote] || named[remote.Addr()]
	}
}

// connected reports a socket with a remote end: an established or
// connecting TCP socket or a connected UDP socket. Closing states are left
// out: the kernel keeps them after the process has gone.
func connected(s host.Socket) bool {
	if !s.Remote.IsValid() || s.Remote.Port() == 0 || s.Remote.Addr().IsUnspecified() {
		return false
	}
	return s.State == "ESTABLISHED" || s.State == "SYN_SENT"
}

// socketOwners maps socket inodes to the process holding them. A socket
// shared by a parent and its forked child goes to the lowest pid, the one
// that opened it in the common case of a daemon forking workers. blind
// lists the uids of processes whose descriptors could not be read (not
// root): their sockets have no known owner without anything being hidden.
func socketOwners(procs []*process.Process) (owners map[uint64]*process.Process, blind map[int]bool) {
	owners, blind = map[uint64]*process.Process{}, map[int]bool{}
	for _, p := range procs {
		if p.Kernel() {
			continue
		}
		inodes, err := p.SocketInodes()
		if inodes == nil && errors.Is(err, fs.ErrPermission) {
			blind[p.UID()] = true
		}
		for ino := range inodes {
			if cur, ok := owners[ino]; !ok || p.PID < cur.PID {
				owners[ino] = p
			}
		}
	}
	return owners, blind
}

// judgeRemote lists every reason the socket's remote end looks like a pool,
// strongest first.
func judgeRemote(ctx context.Context, env *Env, res *poolResolver, s host.Socket, p *process.Process) []poolHit {
	var hits []poolHit
	remote := s.Remote.Addr().Unmap()
	if e, ok := env.Intel.IP(remote); ok {
		hits = append(hits, poolHit{rank: 0, rule: "network.pool_ip", sev: findings.High, conf: 0.9,
			why: fmt.Sprintf("remote address is in the pool network %s (%s, source %s)", e.CIDR, e.Category, e.Source)})
	}
	if p != nil {
		for _, t := range poolTargets(env, p.Cmdline) {
			if t.port != 0 && t.port != s.Remote.Port() {
				continue
			}
			if t.ip.IsValid() {
				if t.ip == remote && t.port == s.Remote.Port() {
					hits = append(hits, poolHit{rank: 1, rule: "network.declared_pool", sev: findings.High, conf: 0.85,
						why: fmt.Sprintf("remote endpoint is the pool the process's own command line names (%s:%d)", t.host, t.port)})
				}
				continue
			}
			addrs := res.lookup(ctx, t.host)
			if !containsAddr(addrs, remote) {
				continue
			}
			if d, ok := env.Intel.Domain(t.host); ok {
				hits = append(hits, poolHit{rank: 1, rule: "network.pool_domain", sev: findings.High, conf: 0.9, domain: t.host,
					why: fmt.Sprintf("remote address is what the listed %s domain %s (named on the command line) resolves to", d.Category, t.host)})
			} else if kw, ok := env.Intel.DomainKeyword(t.host); ok {
				hits = append(hits, poolHit{rank: 2, rule: "network.pool_domain_keyword", sev: findings.Medium, conf: 0.6, domain: t.host,
					why: fmt.Sprintf("remote address is what %s (named on the command line, mining keyword %q) resolves to", t.host, kw)})
			}
		}
	}
	if port, ok := env.Intel.Port(s.Remote.Port()); ok {
		h := poolHit{rank: 3, rule: "network.mining_port", sev: findings.Medium, conf: 0.5,
			why: fmt.Sprintf("remote port %d is a mining port (%s)", port.Port, port.Weight)}
		if port.Weight != "strong" {
			h.rank, h.sev, h.conf = 4, findings.Low, 0.25
		}
		if port.Note != "" {
			h.why += ": " + port.Note
		}
		hits = append(hits, h)
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].rank < hits[j].rank })
	return hits
}

func containsAddr(addrs []netip.Addr, a netip.Addr) bool {
	for _, x := range addrs {
		if x.Unmap() == a {
			return true
		}
	}
	return false
}

func poolFinding(env *Env, s host.Socket, p *process.Process, hits []poolHit) findings.Finding {
	top := hits[0]
	var ev findings.Evidence
	if p != nil {
		ev = env.ProcessEvidence(p)
	} else {
		uid := s.UID // the socket's owner is all that is known of a hidden process
		ev.UID, ev.User = &uid, env.UserName(uid)
	}
	ev.Remote = s.Remote.String()
	ev.Local = s.Local.String()
	ev.Protocol = s.Proto
	for _, h := range hits {
		if ev.Domain == "" && h.domain != "" {
			ev.Domain = h.domain
		}
		ev.Match = append(ev.Match, h.why)
	}
	ev.Details = map[string]string{"inode": strconv.FormatUint(s.Inode, 10), "source": s.Source}
	if s.State != "" {
		ev.Details["state"] = s.State
	}
	who := "A process"
	if p != nil {
		who = fmt.Sprintf("%s (pid %d)", Printable(p.Name(), 64), p.PID)
	}
	var title string
	switch top.rule {
	case "network.pool_ip":
		title = fmt.Sprintf("%s is connected to mining pool address %s", who, ev.Remote)
	case "network.pool_domain":
		title = fmt.Sprintf("%s is connected to mining pool %s at %s", who, top.domain, ev.Remote)
	case "network.declared_pool":
		title = fmt.Sprintf("%s is connected to %s, the pool its own command line names", who, ev.Remote)
	case "network.pool_domain_keyword":
		title = fmt.Sprintf("%s is connected to %s at %s, a name that looks like a mining pool", who, top.domain, ev.Remote)
	default:
		title = fmt.Sprintf("%s is connected to %s on a mining port", who, ev.Remote)
	}
	return findings.Finding{
		Rule:        top.rule,
		Severity:    top.sev,
		Signal:      findings.SignalNetwork,
		Title:       title,
		Description: capitalise(strings.Join(ev.Match, "; ")) + ".",
		Evidence:    ev,
		Remediation: "Check what the process is and who started it; block the pool at the firewall and stop the process if it is not an approved miner.",
		Confidence:  top.conf,
	}
}

// miningListener reports a non-system process listening on a strong mining
// port: a Stratum proxy that relays other machines' miners to a pool. Weak
// ports (4444, 9999, ...) host too many ordinary servers to mention.
func miningListener(env *Env, s host.Socket, p *process.Process) (findings.Finding, bool) {
	port, ok := env.Intel.Port(s.Local.Port())
	if !ok || port.Weight != "strong" || p == nil || systemProcess(env, p) {
		return findings.Finding{}, false
	}
	ev := env.ProcessEvidence(p)
	ev.Local = s.Local.String()
	ev.Protocol = s.Proto
	ev.Match = []string{fmt.Sprintf("listens on mining port %d", port.Port)}
	return findings.Finding{
		Rule:     "network.mining_port_listener",
		Severity: findings.Low,
		Signal:   findings.SignalNetwork,
		Title:    fmt.Sprintf("%s (pid %d) listens on mining port %s", Printable(p.Name(), 64), p.PID, ev.Local),
		Description: fmt.Sprintf("Port %d is a Stratum port; a listener there may be a mining proxy that relays miners on other hosts to a pool.",
			port.Port),
		Evidence:    ev,
		Remediation: "Confirm the service is expected; a mining proxy is often the hub of miners spread over many hosts.",
		Confidence:  0.3,
	}, true
}

// systemProcess reports a well-known daemon running from its usual place.
func systemProcess(env *Env, p *process.Process) bool {
	if p.Exe == "" || p.ExeDeleted {
		return false
	}
	d, ok := env.Intel.Daemon(path.Base(p.Exe))
	if !ok {
		return false
	}
	for _, dir := range d.Dirs {
		if path.Dir(p.Exe) == dir {
			return true
		}
	}
	return false
}

// poolTarget is a host (and port, 0 when not given) a process names as its pool.
type poolTarget struct {
	host string
	port uint16
	ip   netip.Addr // set when host is an address literal
}

// poolTargets lists the pools a command line points a miner at (mining
// URLs anywhere in argv, the values of URL flags such as -o and --url), as
// minercfg reads them for the identity checks. IP literals are kept: a
// connection to exactly the endpoint a process names as its pool is
// evidence whatever the port.
func poolTargets(env *Env, argv []string) []poolTarget {
	var out []poolTarget
	seen := map[poolTarget]bool{}
	for _, u := range minercfg.PoolsFromArgs(argv, env.Intel).URLs {
		t := poolTarget{host: strings.ToLower(strings.TrimSuffix(u.Host, "."))}
		if a, err := netip.ParseAddr(strings.Trim(t.host, "[]")); err == nil {
			t.host, t.ip = a.Unmap().String(), a.Unmap()
		}
		if u.Port != "" {
			n, err := strconv.ParseUint(u.Port, 10, 16)
			if err != nil {
				continue
			}
			t.port = uint16(n)
		}
		if t.host == "" || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// poolResolver turns pool names into addresses: the host's /etc/hosts
// always (read through the host's filesystem, so --root and fixtures work),
// DNS only when the scan allows it. Only names that are listed pools or
// carry a mining keyword are looked up, and each once.
type poolResolver struct {
	env       *Env
	hostsOnce sync.Once
	hosts     map[string][]netip.Addr
	mu        sync.Mutex
	cache     map[string][]netip.Addr
}

func newPoolResolver(env *Env) *poolResolver {
	return &poolResolver{env: env, cache: map[string][]netip.Addr{}}
}

func (r *poolResolver) lookup(ctx context.Context, name string) []netip.Addr {
	if _, listed := r.env.Intel.Domain(name); !listed {
		if _, kw := r.env.Intel.DomainKeyword(name); !kw {
			return nil
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.cache[name]; ok {
		return a
	}
	r.hostsOnce.Do(func() {
		b, err := r.env.Host.FS().ReadFile("/etc/hosts")
		if err != nil {
			r.env.Log.Debug("network.pool: no /etc/hosts", "err", err)
			return
		}
		r.hosts = ParseHosts(b)
	})
	addrs := append([]netip.Addr(nil), r.hosts[name]...)
	if r.env.Resolve {
		cctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		ips, err := net.DefaultResolver.LookupNetIP(cctx, "ip", name)
		cancel()
		if err != nil {
			r.env.Log.Debug("network.pool: resolve", "name", name, "err", err)
		}
		for _, a := range ips {
			addrs = append(addrs, a.Unmap())
		}
	}
	r.cache[name] = addrs
	return addrs
}

// ParseHosts parses an /etc/hosts file into name -> addresses. Lines that
// do not start with an address are skipped, as the C library does.
func ParseHosts(b []byte) map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		a = a.WithZone("").Unmap()
		for _, n := range f[1:] {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			if !containsAddr(out[n], a) {
				out[n] = append(out[n], a)
			}
		}
	}
	return out
}

// unownedFindings reports pool connections no process in the snapshot
// owns. Processes started after the snapshot are looked for first (a
// fresh listing of /proc): only sockets still without an owner, whose
// holder is invisible in /proc, are reported as hidden.
func unownedFindings(ctx context.Context, env *Env, proc host.Proc, socks []host.Socket, res *poolResolver, blind map[int]bool) []findings.Finding {
	known := map[int]bool{}
	for _, p := range env.Procs.All() {
		known[p.PID] = true
	}
	var late []*process.Process
	if pids, err := proc.PIDs(); err == nil {
		for _, pid := range pids {
			if known[pid] {
				continue
			}
			if p, err := process.Read(proc, pid); err == nil {
				late = append(late, p)
			}
		}
	}
	owners, lateBlind := socketOwners(late)
	for uid := range lateBlind {
		blind[uid] = true
	}
	var out []findings.Finding
	seen := map[string]bool{}
	for _, s := range socks {
		if p := owners[s.Inode]; p != nil {
			if p.PID == proc.Self() {
				continue
			}
			if hits := judgeRemote(ctx, env, res, s, p); len(hits) > 0 {
				out = append(out, poolFinding(env, s, p, hits))
			}
			continue
		}
		f := poolFinding(env, s, nil, judgeRemote(ctx, env, res, s, nil))
		if seen[f.Evidence.Remote+s.Proto] {
			continue
		}
		seen[f.Evidence.Remote+s.Proto] = true
		if blind[s.UID] {
			// The owner is probably one of this user's processes whose
			// descriptors minerguard may not read: still a pool
			// connection, but no sign of hiding.
			f.Title = fmt.Sprintf("Connection to mining pool address %s by a process of %s that could not be inspected", f.Evidence.Remote, f.Evidence.User)
			f.Description += " The owning process could not be determined: /proc/PID/fd of this user's processes is not readable (run as root)."
			out = append(out, f)
			continue
		}
		f.Rule = "network.unowned_pool_connection"
		f.Severity = findings.High
		f.Title = fmt.Sprintf("Connection to mining pool address %s is held by no visible process", f.Evidence.Remote)
		f.Description += " No process in /proc holds socket inode " + strconv.FormatUint(s.Inode, 10) +
			": the process that does is hidden from the process list (a rootkit or a process in another PID namespace that is invisible here)."
		f.Remediation = "Look for hidden processes (minerguard's hiding checks, unhide), compare kill -0 probes with the /proc listing, and isolate the host: a hidden miner means the machine is compromised."
		f.Confidence = 0.8
		out = append(out, f)
	}
	return out
}
