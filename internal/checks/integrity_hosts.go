package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
)

func init() {
	registerFunc(Info{
		ID:          "integrity.hosts",
		Title:       "Name resolution tampering (/etc/hosts, /etc/resolv.conf)",
		Description: "Reports /etc/hosts entries that redirect mining pool names to a proxy or that block or redirect security and update servers, and resolv.conf name servers that no local generator wrote.",
		Needs:       NeedsFS,
		Default:     true,
	}, checkIntegrityHosts)
}

const (
	etcHosts      = "/etc/hosts"
	etcResolvConf = "/etc/resolv.conf"
	// maxNameFile bounds /etc/hosts (blocklists can be a few MiB).
	maxNameFile = 16 << 20
)

// HostsEntry is one line of /etc/hosts.
type HostsEntry struct {
	Line  int
	Addr  netip.Addr
	Names []string
	Raw   string
}

// ParseHostsLines parses hosts(5) keeping line numbers: an address, then names; '#' starts a
// comment. Lines whose address does not parse are returned in bad (line
// numbers), the rest are kept.
func ParseHostsLines(b []byte) (entries []HostsEntry, bad []int) {
	for i, line := range bytes.Split(b, []byte("\n")) {
		raw := line
		if j := bytes.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		// Zone ids (fe80::1%eth0) are valid in hosts files.
		a, err := netip.ParseAddr(f[0])
		if err != nil || len(f) < 2 {
			bad = append(bad, i+1)
			continue
		}
		entries = append(entries, HostsEntry{Line: i + 1, Addr: a.Unmap(), Names: f[1:], Raw: string(bytes.TrimRight(raw, "\r"))})
	}
	return entries, bad
}

// sinkAddr is an address that blocks a name rather than redirecting it.
func sinkAddr(a netip.Addr) bool {
	return a.IsUnspecified() || a.IsLoopback()
}

// protectedHost returns the protected name that host is or is below.
func protectedHost(host string, protected []string) (string, bool) {
	h := intel.NormalizeDomain(host)
	for _, p := range protected {
		if h == p || strings.HasSuffix(h, "."+p) {
			return p, true
		}
	}
	return "", false
}

func checkIntegrityHosts(_ context.Context, env *Env) ([]findings.Finding, error) {
	cfg, err := loadIntegrityIntel(env.Intel)
	if err != nil {
		return nil, err
	}
	fsys := env.Host.FS()
	var out []findings.Finding
	var errs []error

	b, err := integrityReadFile(fsys, etcHosts, maxNameFile)
	switch {
	case err == nil:
		entries, _ := ParseHostsLines(b)
		for _, e := range entries {
			for _, name := range e.Names {
				out = append(out, hostsFindings(env, cfg, e, name)...)
			}
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		errs = append(errs, err)
	}

	rf, err := resolvFindings(env, cfg)
	if err != nil {
		errs = append(errs, err)
	}
	out = append(out, rf...)
	return out, errors.Join(errs...)
}

func hostsFindings(env *Env, cfg *integrityIntel, e HostsEntry, name string) []findings.Finding {
	ev := func() findings.Evidence {
		return findings.Evidence{
			Path: etcHosts, Line: e.Line, Content: Printable(e.Raw, 512), Domain: Printable(name, 256),
			Details: map[string]string{"address": e.Addr.String()},
		}
	}
	var out []findings.Finding
	if p, ok := protectedHost(name, cfg.Hosts.Protected); ok {
		conf, what := 0.85, "blocks"
		if !sinkAddr(e.Addr) {
			conf, what = 0.6, "redirects"
		}
		f := findings.Finding{
			Rule:        "integrity.hosts_protected",
			Severity:    findings.High,
			Signal:      findings.SignalIntegrity,
			Title:       fmt.Sprintf("/etc/hosts %s %s (security or update server) to %s", what, Printable(name, 256), e.Addr),
			Description: fmt.Sprintf("%s serves security updates or antivirus signatures. Mining malware points such names at 127.0.0.1 or 0.0.0.0 so that the host stops receiving the updates and signatures that would remove it (and competitors' cleaners fail); a redirect to another address can feed it a fake update server. An internal mirror configured this way is possible but unusual.", p),
			Evidence:    ev(),
			Remediation: fmt.Sprintf("Remove line %d from /etc/hosts (chattr -ia /etc/hosts first if it is immutable), then update the system and the antivirus signatures and look for the malware that wrote it.", e.Line),
			Confidence:  conf,
		}
		out = append(out, f)
	}
	if d, ok := env.Intel.Domain(name); ok {
		if sinkAddr(e.Addr) {
			out = append(out, findings.Finding{
				Rule:        "integrity.hosts_pool_blocked",
				Severity:    findings.Info,
				Signal:      findings.SignalIntegrity,
				Title:       fmt.Sprintf("/etc/hosts blocks mining pool %s", Printable(name, 256)),
				Description: "The mining pool name resolves to a dead address here: a blocklist entry that prevents mining, which is good practice.",
				Evidence:    ev(),
				Confidence:  0.9,
			})
		} else {
			f := findings.Finding{
				Rule:        "integrity.hosts_pool_redirect",
				Severity:    findings.Medium,
				Signal:      findings.SignalIntegrity,
				Title:       fmt.Sprintf("/etc/hosts sends mining pool %s to %s", Printable(name, 256), e.Addr),
				Description: "A mining pool name is pinned to a fixed address. Miners do this to reach the pool through an attacker's proxy, or to keep working when DNS blocks the pool.",
				Evidence:    ev(),
				Remediation: fmt.Sprintf("Remove line %d from /etc/hosts and block %s at the network edge; look for the miner that uses it.", e.Line, e.Addr),
				Confidence:  0.7,
			}
			if d.Domain != "" {
				f.Evidence.Details["pool"] = d.Domain
			}
			out = append(out, f)
		}
	}
	return out
}

// resolvFindings reports name servers in a hand-written resolv.conf that
// are public and not well known. A generated file (a link into /run, or
// one carrying its generator's header) is left alone: the generator wrote
// what DHCP or the network configuration said.
func resolvFindings(env *Env, cfg *integrityIntel) ([]findings.Finding, error) {
	fsys := env.Host.FS()
	if st, err := fsys.Lstat(etcResolvConf); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		if t, err := fsys.Readlink(etcResolvConf); err == nil {
			if !strings.HasPrefix(t, "/") {
				t = path.Join("/etc", t)
			}
			for _, g := range cfg.Hosts.GeneratedTargets {
				if strings.HasPrefix(path.Clean(t)+"/", g) {
					return nil, nil
				}
			}
		}
	}
	b, err := integrityReadFile(fsys, etcResolvConf, maxNameFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, m := range cfg.Hosts.GeneratedMarkers {
		if bytes.Contains(b, []byte(m)) {
			return nil, nil
		}
	}
	public := map[netip.Addr]bool{}
	for _, s := range cfg.Hosts.PublicResolvers {
		if a, err := netip.ParseAddr(s); err == nil {
			public[a] = true
		}
	}
	var out []findings.Finding
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		a = a.Unmap()
		if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() || isCGNAT(a) {
			continue
		}
		sev, conf := findings.Low, 0.4
		desc := "The name server is a public address that no local generator (systemd-resolved, NetworkManager, resolvconf, DHCP) wrote here. Malware points hosts at its own resolver to send pool and update names wherever it likes; it may also be an administrator's choice."
		if public[a] {
			sev, conf = findings.Info, 0.1
			desc = "The name server is a well-known public resolver set by hand: usually an administrator's choice, listed for review."
		}
		out = append(out, findings.Finding{
			Rule:        "integrity.resolv_nameserver",
			Severity:    sev,
			Signal:      findings.SignalIntegrity,
			Title:       fmt.Sprintf("/etc/resolv.conf uses name server %s", a),
			Description: desc,
			Evidence: findings.Evidence{Path: etcResolvConf, Line: i + 1, Content: Printable(strings.TrimSpace(line), 256),
				Remote: netip.AddrPortFrom(a, 53).String(), Details: map[string]string{"nameserver": a.String()}},
			Remediation: "Confirm the resolver is the one your network uses; if not, restore resolv.conf from the network configuration and check whether it was made immutable (lsattr /etc/resolv.conf).",
			Confidence:  conf,
		})
	}
	return out, nil
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// isCGNAT reports carrier-grade NAT space (Tailscale's 100.100.100.100,
// cloud resolvers) which is not public either.
func isCGNAT(a netip.Addr) bool { return cgnat.Contains(a) }

// integrityReadFile reads a host text file of at most max bytes.
func integrityReadFile(fsys interface {
	Stat(string) (fs.FileInfo, error)
	ReadFile(string) ([]byte, error)
}, name string, max int64) ([]byte, error) {
	st, err := fsys.Stat(name)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, over the %d MiB limit", name, st.Size(), max>>20)
	}
	return fsys.ReadFile(name)
}
