package blocklist

import (
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
	{"domains", "plain domain list, one per line (external dynamic lists, Squid dstdomain with a leading dot)", renderDomains},
	{"ips", "plain address/network list, one per line (external dynamic lists, ipset)", renderIPs},
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
			return f.render(w, l)
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
	for _, d := range l.Domains {
		e.printf("0.0.0.0 %s\n:: %s\n", d, d)
	}
	return e.err
}

func renderDnsmasq(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	for _, d := range l.Domains {
		e.printf("address=/%s/0.0.0.0\naddress=/%s/::\n", d, d)
	}
	return e.err
}

func renderUnbound(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, "#", l)
	e.printf("server:\n")
	for _, d := range l.Domains {
		e.printf("\tlocal-zone: \"%s.\" always_nxdomain\n", d)
	}
	return e.err
}

func renderRPZ(w io.Writer, l *List) error {
	e := &ew{w: w}
	header(e, ";", l)
	e.printf("$TTL 300\n@ IN SOA localhost. hostmaster.localhost. ( 1 3600 600 86400 300 )\n@ IN NS localhost.\n")
	for _, d := range l.Domains {
		e.printf("%s CNAME .\n*.%s CNAME .\n", d, d)
	}
	return e.err
}

func renderDomains(w io.Writer, l *List) error {
	e := &ew{w: w}
	for _, d := range l.Domains {
		e.printf("%s\n", d)
	}
	return e.err
}

func renderIPs(w io.Writer, l *List) error {
	e := &ew{w: w}
	for _, p := range append(append([]netip.Prefix{}, l.V4...), l.V6...) {
		if p.IsSingleIP() {
			e.printf("%s\n", p.Addr())
		} else {
			e.printf("%s\n", p)
		}
	}
	return e.err
}
