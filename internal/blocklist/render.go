package blocklist

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Format describes one output format.
type Format struct {
	Name string
	// Desc says what the output is for and how it is loaded.
	Desc   string
	render func(w io.Writer, l *List) error
}

// Formats lists every format, in the order `blocklist --help` shows them.
var Formats = []Format{
	{"nftables", "nft table inet minerguard: sets of pool networks and mining ports, dropped on output (nft -f FILE)", renderNft},
	{"hosts", "hosts file lines 0.0.0.0/:: NAME (exact names only: hosts files have no wildcards)", renderHosts},
	{"dnsmasq", "dnsmasq address=/NAME/ lines answering 0.0.0.0 and :: for a name and its subdomains", renderDnsmasq},
	{"unbound", "Unbound server: local-zone always_nxdomain for each name and its subdomains (include: FILE)", renderUnbound},
	{"rpz", "BIND response-policy zone answering NXDOMAIN for each name and its subdomains", renderRPZ},
	{"domains", "plain domain list, one name per line (each name stands for its subdomains too)", renderDomains},
	{"ips", "plain address/network list, one per line", renderIPs},
	{"edl-ip", "external dynamic list, IP type (Palo Alto, FortiGate IP threat feed): addresses and CIDRs, IPv4 and IPv6, one per line", renderIPs},
	{"edl-domain", "external dynamic list, domain type (Palo Alto, FortiGate domain threat feed): NAME and *.NAME per pool, so subdomains match", renderEDLDomain},
	{"edl-url", "external dynamic list, URL type (Palo Alto URL list, FortiGate URL threat feed): NAME/ and *.NAME/ per pool, no scheme", renderEDLURL},
	{"ipset", "ipset restore input: hash:net sets minerguard-pool4/minerguard-pool6 (ipset restore < FILE)", renderIpset},
	{"iptables", "iptables-restore input for the filter table: a MINERGUARD chain on OUTPUT and FORWARD (IPv4; mining ports too)", renderIptables},
	{"ip6tables", "ip6tables-restore input, the IPv6 counterpart of iptables", renderIp6tables},
	{"squid", "Squid ACL: dstdomain and dst lists with deny rules (include the file before your http_access allow rules)", renderSquid},
	{"mikrotik", "RouterOS script: address-list minerguard-pools and a forward drop rule (/import FILE)", renderMikrotik},
	{"powershell", "Windows Firewall rules via New-NetFirewallRule: outbound block of pool networks and mining ports", renderPowerShell},
	{"netsh", "Windows Firewall rules via netsh advfirewall: outbound block of pool networks and mining ports", renderNetsh},
}

// FormatNames lists the format names.
func FormatNames() []string {
	var out []string
	for _, f := range Formats {
		out = append(out, f.Name)
	}
	return out
}

// Render writes l in the named format.
func Render(w io.Writer, l *List, format string) error {
	for _, f := range Formats {
		if f.Name == format {
			// Buffered: a million lines of small writes to an unbuffered
			// file or pipe would cost a system call each.
			bw := bufio.NewWriterSize(w, 256<<10)
			if err := f.render(bw, l); err != nil {
				return err
			}
			return bw.Flush()
		}
	}
	return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(FormatNames(), ", "))
}

type ew struct {
	w   io.Writer
	err error
}

func (e *ew) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

// lines writes tmpl once per value with every "%s" replaced by it: the
// per-entry loops, without fmt's cost per line (a million domains).
func (e *ew) lines(tmpl string, values []string) {
	parts := strings.Split(tmpl, "%s")
	for _, v := range values {
		if e.err != nil {
			return
		}
		for i, p := range parts {
			if i > 0 {
				_, e.err = io.WriteString(e.w, v)
			}
			_, e.err = io.WriteString(e.w, p)
		}
	}
}

// prefixLines is lines for networks; bare writes a single address
// without its /32 or /128.
func (e *ew) prefixLines(tmpl string, ps []netip.Prefix, bare bool) {
	parts := strings.Split(tmpl, "%s")
	var buf []byte
	for _, p := range ps {
		if e.err != nil {
			return
		}
		if bare && p.IsSingleIP() {
			buf = p.Addr().AppendTo(buf[:0])
		} else {
			buf = p.AppendTo(buf[:0])
		}
		for i, part := range parts {
			if i > 0 {
				_, e.err = e.w.Write(buf)
			}
			_, e.err = io.WriteString(e.w, part)
		}
	}
}

func header(e *ew, comment string, l *List) {
	e.printf("%s minerguard block list, intel %s: %d domains, %d IPv4 and %d IPv6 networks, %d mining ports\n",
		comment, l.Version, len(l.Domains), len(l.V4), len(l.V6), len(l.Ports))
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func renderNft(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	// Re-loading replaces the table: declare it, delete it, define it.
	e.printf("table inet minerguard\ndelete table inet minerguard\n")
	e.printf("table inet minerguard {\n")
	set := func(name, typ string, elems string) {
		e.printf("\tset %s {\n\t\ttype %s\n", name, typ)
		if typ != "inet_service" {
			e.printf("\t\tflags interval\n")
		}
		if elems != "" {
			e.printf("\t\telements = { %s }\n", elems)
		}
		e.printf("\t}\n")
	}
	set("pool_v4", "ipv4_addr", joinPrefixes(l.V4))
	set("pool_v6", "ipv6_addr", joinPrefixes(l.V6))
	ports := make([]string, len(l.Ports))
	for i, p := range l.Ports {
		ports[i] = fmt.Sprint(p)
	}
	set("mining_ports", "inet_service", strings.Join(ports, ", "))
	e.printf("\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n")
	e.printf("\t\tip daddr @pool_v4 counter drop comment \"minerguard: mining pool\"\n")
	e.printf("\t\tip6 daddr @pool_v6 counter drop comment \"minerguard: mining pool\"\n")
	e.printf("\t\ttcp dport @mining_ports counter drop comment \"minerguard: mining port\"\n")
	e.printf("\t}\n")
	e.printf("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n")
	e.printf("\t\tip daddr @pool_v4 counter drop\n\t\tip6 daddr @pool_v6 counter drop\n\t\ttcp dport @mining_ports counter drop\n")
	e.printf("\t}\n}\n")
	return e.err
}

func renderHosts(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	e.lines("0.0.0.0 %s\n:: %s\n", l.Domains)
	return e.err
}

func renderDnsmasq(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	e.lines("address=/%s/0.0.0.0\naddress=/%s/::\n", l.Domains)
	// The longest matching domain wins in dnsmasq: "#" sends an allowed
	// subdomain to the normal upstream servers.
	e.lines("server=/%s/#\n", l.Exceptions)
	return e.err
}

func renderUnbound(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	e.printf("server:\n")
	e.lines("\tlocal-zone: \"%s.\" always_nxdomain\n", l.Domains)
	// Unbound uses the closest enclosing local zone: a transparent one
	// below a blocked zone resolves normally.
	e.lines("\tlocal-zone: \"%s.\" always_transparent\n", l.Exceptions)
	return e.err
}

func renderRPZ(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, ";", l)
	e.printf("$TTL 300\n@ IN SOA localhost. hostmaster.localhost. ( 1 3600 600 86400 300 )\n@ IN NS localhost.\n")
	e.lines("%s CNAME .\n*.%s CNAME .\n", l.Domains)
	// The most specific trigger in a policy zone wins: passthru rules for
	// allowed subdomains override the wildcard above them.
	e.lines("%s CNAME rpz-passthru.\n*.%s CNAME rpz-passthru.\n", l.Exceptions)
	return e.err
}

func renderDomains(w io.Writer, l *List) error {
	e := &ew{w: w}
	e.lines("%s\n", l.Domains)
	return e.err
}

// renderEDLDomain writes both NAME and *.NAME: an EDL domain entry
// matches that name only, and "*." is how both vendors express "and every
// subdomain". EDLs take no comments or exceptions (those are set on the
// firewall), so the file is entries only.
func renderEDLDomain(w io.Writer, l *List) error {
	e := &ew{w: w}
	e.lines("%s\n*.%s\n", l.Domains)
	return e.err
}

// renderEDLURL writes NAME/ and *.NAME/: without the trailing slash a URL
// list entry is a prefix, and "pool.example" would also match
// "pool.example.other.net".
func renderEDLURL(w io.Writer, l *List) error {
	e := &ew{w: w}
	e.lines("%s/\n*.%s/\n", l.Domains)
	return e.err
}

func renderIPs(w io.Writer, l *List) error {
	e := &ew{w: w}
	e.prefixLines("%s\n", l.V4, true)
	e.prefixLines("%s\n", l.V6, true)
	return e.err
}

func renderIpset(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	e.printf("create minerguard-pool4 hash:net family inet -exist\nflush minerguard-pool4\n")
	e.prefixLines("add minerguard-pool4 %s\n", l.V4, false)
	e.printf("create minerguard-pool6 hash:net family inet6 -exist\nflush minerguard-pool6\n")
	e.prefixLines("add minerguard-pool6 %s\n", l.V6, false)
	return e.err
}

func iptablesRules(e *ew, l *List, nets []netip.Prefix) {
	e.printf("*filter\n:MINERGUARD - [0:0]\n-A OUTPUT -j MINERGUARD\n-A FORWARD -j MINERGUARD\n")
	e.prefixLines("-A MINERGUARD -d %s -m comment --comment \"minerguard: mining pool\" -j DROP\n", nets, false)
	for _, port := range l.Ports {
		e.printf("-A MINERGUARD -p tcp --dport %d -m comment --comment \"minerguard: mining port\" -j DROP\n", port)
	}
	e.printf("COMMIT\n")
}

func renderIptables(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	iptablesRules(e, l, l.V4)
	return e.err
}

func renderIp6tables(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	iptablesRules(e, l, l.V6)
	return e.err
}

func renderSquid(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	e.lines("acl minerguard_pools dstdomain .%s\n", l.Domains)
	e.lines("acl minerguard_allow dstdomain .%s\n", l.Exceptions)
	e.prefixLines("acl minerguard_pool_nets dst %s\n", l.V4, false)
	e.prefixLines("acl minerguard_pool_nets dst %s\n", l.V6, false)
	switch {
	case len(l.Domains) > 0 && len(l.Exceptions) > 0:
		e.printf("http_access deny minerguard_pools !minerguard_allow\n")
	case len(l.Domains) > 0:
		e.printf("http_access deny minerguard_pools\n")
	}
	if len(l.V4)+len(l.V6) > 0 {
		e.printf("http_access deny minerguard_pool_nets\n")
	}
	return e.err
}

func renderMikrotik(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	e.printf("/ip firewall address-list\nremove [find list=minerguard-pools]\n")
	e.prefixLines("add list=minerguard-pools address=%s comment=minerguard\n", l.V4, false)
	// RouterOS resolves names in address lists itself.
	e.lines("add list=minerguard-pools address=%s comment=minerguard\n", l.Domains)
	e.printf("/ip firewall filter\nremove [find comment=minerguard]\nadd chain=forward dst-address-list=minerguard-pools action=drop comment=minerguard\n")
	if len(l.V6) > 0 {
		e.printf("/ipv6 firewall address-list\nremove [find list=minerguard-pools]\n")
		e.prefixLines("add list=minerguard-pools address=%s comment=minerguard\n", l.V6, false)
		e.printf("/ipv6 firewall filter\nremove [find comment=minerguard]\nadd chain=forward dst-address-list=minerguard-pools action=drop comment=minerguard\n")
	}
	return e.err
}

// windowsChunks splits addresses so one rule's RemoteAddress stays well
// under the Windows Firewall's per-rule limit.
func windowsChunks(l *List) [][]string {
	var all []string
	for _, p := range append(append([]netip.Prefix{}, l.V4...), l.V6...) {
		all = append(all, p.String())
	}
	var out [][]string
	for len(all) > 0 {
		n := min(len(all), 500)
		out = append(out, all[:n])
		all = all[n:]
	}
	return out
}

func portList(l *List) string {
	s := make([]string, len(l.Ports))
	for i, p := range l.Ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

func renderPowerShell(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	e.printf("#Requires -RunAsAdministrator\n$ErrorActionPreference = 'Stop'\n")
	e.printf("Get-NetFirewallRule -Group 'minerguard' -ErrorAction SilentlyContinue | Remove-NetFirewallRule\n")
	for i, c := range windowsChunks(l) {
		e.printf("New-NetFirewallRule -DisplayName 'minerguard: mining pools %d' -Group 'minerguard' -Direction Outbound -Action Block -RemoteAddress @('%s') | Out-Null\n",
			i+1, strings.Join(c, "','"))
	}
	if len(l.Ports) > 0 {
		e.printf("New-NetFirewallRule -DisplayName 'minerguard: mining ports' -Group 'minerguard' -Direction Outbound -Action Block -Protocol TCP -RemotePort @(%s) | Out-Null\n", portList(l))
	}
	return e.err
}

func renderNetsh(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "REM", l)
	chunks := windowsChunks(l)
	// netsh has no rule groups: remove the rules by name before re-adding.
	for i := range chunks {
		e.printf("netsh advfirewall firewall delete rule name=\"minerguard: mining pools %d\" >nul 2>&1\n", i+1)
	}
	e.printf("netsh advfirewall firewall delete rule name=\"minerguard: mining ports\" >nul 2>&1\n")
	for i, c := range chunks {
		e.printf("netsh advfirewall firewall add rule name=\"minerguard: mining pools %d\" dir=out action=block remoteip=%s\n", i+1, strings.Join(c, ","))
	}
	if len(l.Ports) > 0 {
		e.printf("netsh advfirewall firewall add rule name=\"minerguard: mining ports\" dir=out action=block protocol=TCP remoteport=%s\n", portList(l))
	}
	return e.err
}
