// Package firewall manages minerguard's own nftables table through
// netlink (no nft binary): pool addresses and mining ports blocked, or the
// whole host isolated except its management endpoints. A Ruleset is the
// declarative description; Apply replaces the table atomically, Read gives
// back what is installed so a caller can restore it exactly. Other tables
// are never touched.
package firewall

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// DefaultTable is the nftables table (family inet) minerguard owns.
const DefaultTable = "minerguard"

// Errors callers can test for with errors.Is.
var (
	// ErrUnsupported: no nftables on this operating system.
	ErrUnsupported = errors.New("firewall: nftables is only available on Linux")
	// ErrPermission: the caller lacks CAP_NET_ADMIN.
	ErrPermission = errors.New("firewall: permission denied (changing or reading nftables needs root or CAP_NET_ADMIN)")
	// ErrNoNFTables: the kernel has no nf_tables (module not loaded or not built).
	ErrNoNFTables = errors.New("firewall: nf_tables is not available in this kernel (modprobe nf_tables; needs Linux 5.6+ for isolate)")
	// ErrForeign: a table of our name holds objects minerguard did not create,
	// so it cannot be read back (and restored) exactly.
	ErrForeign = errors.New("firewall: table holds objects minerguard does not manage")
)

// Endpoint is a management peer that stays reachable while isolated: an
// address or network and a port, 0 meaning every port. The port is a
// service port on either side: the peer's (we connect to it) or ours (it
// connects to us, e.g. 22 for SSH).
type Endpoint struct {
	Prefix netip.Prefix `json:"prefix"`
	Port   uint16       `json:"port,omitempty"`
}

func (e Endpoint) String() string {
	if e.Port == 0 {
		return e.Prefix.String()
	}
	if e.Prefix.IsSingleIP() {
		return netip.AddrPortFrom(e.Prefix.Addr(), e.Port).String()
	}
	return fmt.Sprintf("%s port %d", e.Prefix, e.Port)
}

// Ruleset describes everything in minerguard's table. The zero value
// (with a table name) is an empty table.
type Ruleset struct {
	// Table is the nftables table name (family inet); "" means DefaultTable.
	Table string `json:"table"`
	// BlockAddrs are dropped in both directions, also when forwarded.
	BlockAddrs []netip.Prefix `json:"block_addrs,omitempty"`
	// BlockPorts are destination ports (TCP and UDP) dropped on the way
	// out and when forwarded: mining ports.
	BlockPorts []uint16 `json:"block_ports,omitempty"`
	// InboundBlockPorts are local ports (TCP and UDP) dropped on the way in.
	InboundBlockPorts []uint16 `json:"inbound_block_ports,omitempty"`
	// Isolate drops everything in input, output and forward except
	// loopback, DHCP, IPv6 neighbour discovery, ICMP errors about tracked
	// connections and traffic with Allow.
	Isolate bool `json:"isolate,omitempty"`
	// Allow are the management endpoints kept while isolated.
	Allow []Endpoint `json:"allow,omitempty"`
}

// Name is the table name, DefaultTable when unset.
func (r Ruleset) Name() string {
	if r.Table == "" {
		return DefaultTable
	}
	return r.Table
}

// Empty reports whether the ruleset would install nothing but the table.
func (r Ruleset) Empty() bool {
	return len(r.BlockAddrs) == 0 && len(r.BlockPorts) == 0 && len(r.InboundBlockPorts) == 0 && !r.Isolate
}

// Validate checks what the kernel would refuse, naming the field.
func (r Ruleset) Validate() error {
	if err := ValidTableName(r.Name()); err != nil {
		return err
	}
	for i, p := range r.BlockAddrs {
		if !p.IsValid() {
			return fmt.Errorf("ruleset: block_addrs[%d]: not a network", i)
		}
	}
	for i, p := range r.BlockPorts {
		if p == 0 {
			return fmt.Errorf("ruleset: block_ports[%d]: port 0", i)
		}
	}
	for i, p := range r.InboundBlockPorts {
		if p == 0 {
			return fmt.Errorf("ruleset: inbound_block_ports[%d]: port 0", i)
		}
	}
	for i, e := range r.Allow {
		if !e.Prefix.IsValid() {
			return fmt.Errorf("ruleset: allow[%d]: not a network", i)
		}
	}
	if len(r.Allow) > 0 && !r.Isolate {
		return errors.New("ruleset: allow is only meaningful with isolate")
	}
	return nil
}

// ValidTableName accepts what nft accepts unquoted, so `nft list table
// inet NAME` works for the operator too.
func ValidTableName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("table name %q: must be 1-255 characters", name)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.')
		if !ok {
			return fmt.Errorf("table name %q: only letters, digits, '_', '-' and '.' (starting with a letter or '_')", name)
		}
	}
	return nil
}

// Normalized returns the canonical form of r: networks masked, IPv4-mapped
// addresses unmapped, overlapping and adjacent networks merged into the
// fewest prefixes, ports sorted and unique, endpoints merged likewise.
// Read returns rulesets in this form, so Read(Apply(r)) == r.Normalized().
func (r Ruleset) Normalized() Ruleset {
	out := Ruleset{Table: r.Name(), Isolate: r.Isolate}
	out.BlockAddrs = NormalizePrefixes(r.BlockAddrs)
	out.BlockPorts = normPorts(r.BlockPorts)
	out.InboundBlockPorts = normPorts(r.InboundBlockPorts)
	byPort := map[uint16][]netip.Prefix{}
	for _, e := range r.Allow {
		byPort[e.Port] = append(byPort[e.Port], e.Prefix)
	}
	// Every port of a network covers its single-port endpoints.
	anyPort := NormalizePrefixes(byPort[0])
	for port, ps := range byPort {
		for _, p := range NormalizePrefixes(ps) {
			if port != 0 && coveredBy(p, anyPort) {
				continue
			}
			out.Allow = append(out.Allow, Endpoint{Prefix: p, Port: port})
		}
	}
	slices.SortFunc(out.Allow, compareEndpoint)
	return out
}

func coveredBy(p netip.Prefix, by []netip.Prefix) bool {
	for _, q := range by {
		if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func compareEndpoint(a, b Endpoint) int {
	if c := comparePrefix(a.Prefix, b.Prefix); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

func normPorts(ps []uint16) []uint16 {
	out := slices.Clone(ps)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// Equal reports whether two rulesets install the same table.
func (r Ruleset) Equal(o Ruleset) bool {
	a, b := r.Normalized(), o.Normalized()
	return a.Table == b.Table && a.Isolate == b.Isolate &&
		slices.Equal(a.BlockAddrs, b.BlockAddrs) && slices.Equal(a.BlockPorts, b.BlockPorts) &&
		slices.Equal(a.InboundBlockPorts, b.InboundBlockPorts) && slices.Equal(a.Allow, b.Allow)
}

// String renders the ruleset the way `nft list table` would show it, for
// dry runs and status output (the kernel form is built by Apply).
func (r Ruleset) String() string {
	n := r.Normalized()
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", n.Name())
	// The same sets, in the same order, as Apply creates.
	if len(n.BlockAddrs) > 0 {
		v4, v6 := splitFamilies(n.BlockAddrs)
		writeSet(&b, setBlock4, "ipv4_addr", true, prefixStrings(v4))
		writeSet(&b, setBlock6, "ipv6_addr", true, prefixStrings(v6))
	}
	if len(n.BlockPorts) > 0 {
		writeSet(&b, setPorts, "inet_service", false, portStrings(n.BlockPorts))
	}
	if len(n.InboundBlockPorts) > 0 {
		writeSet(&b, setInPorts, "inet_service", false, portStrings(n.InboundBlockPorts))
	}
	if n.Isolate {
		var a4, a6 []string
		for _, e := range n.Allow {
			s := prefixStrings([]netip.Prefix{e.Prefix})[0] + " . " + portRange(e.Port)
			if e.Prefix.Addr().Is4() {
				a4 = append(a4, s)
			} else {
				a6 = append(a6, s)
			}
		}
		writeSet(&b, setAllow4, "ipv4_addr . inet_service", true, a4)
		writeSet(&b, setAllow6, "ipv6_addr . inet_service", true, a6)
	}
	for _, c := range chainsFor(n) {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority %d; policy accept;\n", c.name, c.hook, Priority)
		for _, l := range c.lines {
			fmt.Fprintf(&b, "\t\t%s\n", l)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func portRange(p uint16) string {
	if p == 0 {
		return "0-65535"
	}
	return fmt.Sprint(p)
}

func writeSet(b *strings.Builder, name, typ string, interval bool, elems []string) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n", name, typ)
	if interval {
		b.WriteString("\t\tflags interval\n")
	}
	if len(elems) > 0 {
		const show = 20 // a dry run of 100k addresses must stay readable
		more := ""
		if len(elems) > show {
			more = fmt.Sprintf(", … (%d more)", len(elems)-show)
			elems = elems[:show]
		}
		fmt.Fprintf(b, "\t\telements = { %s%s }\n", strings.Join(elems, ", "), more)
	}
	b.WriteString("\t}\n")
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}

func portStrings(ps []uint16) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprint(p)
	}
	return out
}

func splitFamilies(ps []netip.Prefix) (v4, v6 []netip.Prefix) {
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}

// Names of the objects in minerguard's table. Read recognises the table by
// them; anything else in it is foreign.
const (
	setBlock4  = "block4"
	setBlock6  = "block6"
	setPorts   = "block_ports"
	setInPorts = "block_inports"
	setAllow4  = "allow4"
	setAllow6  = "allow6"

	chainBlockIn   = "block_in"
	chainBlockOut  = "block_out"
	chainBlockFwd  = "block_fwd"
	chainIsolateIn = "isolate_in"
	chainIsoOut    = "isolate_out"
	chainIsoFwd    = "isolate_fwd"
)

// Priority of every base chain: after conntrack (-200, so ct state is
// known) and before the usual filter chains (0: iptables-nft, firewalld,
// ufw), so a drop here is counted before another table accepts or drops.
const Priority = -10

// chainSpec is one base chain with the rules it carries, described in nft
// syntax; the kernel expressions for each line are built in nft_linux.go.
type chainSpec struct {
	name  string
	hook  string // input, output, forward
	lines []string
	rules []ruleKind
}

// ruleKind names one rule shape; build turns each into expressions.
type ruleKind int

const (
	ruleDropSaddr4 ruleKind = iota
	ruleDropSaddr6
	ruleDropDaddr4
	ruleDropDaddr6
	ruleDropDportTCP
	ruleDropDportUDP
	ruleDropInportTCP
	ruleDropInportUDP
	ruleAcceptIifLo
	ruleAcceptOifLo
	ruleAcceptDHCP4In
	ruleAcceptDHCP6In
	ruleAcceptDHCP4Out
	ruleAcceptDHCP6Out
	ruleAcceptND
	ruleAcceptRelatedICMP  // ICMP errors about tracked flows (PMTU of management)
	ruleAcceptRelatedICMP6 //
	ruleAcceptAllowIn4     // saddr . dport (they connect to our service)
	ruleAcceptAllowIn6     //
	ruleAcceptReplyIn4     // ct established,related saddr . sport (replies of our connections)
	ruleAcceptReplyIn6     //
	ruleAcceptAllowOut4    // daddr . dport (we connect to their service)
	ruleAcceptAllowOut6
	ruleAcceptReplyOut4 // ct established,related daddr . sport (replies to their connections)
	ruleAcceptReplyOut6
	ruleDropAll
)

var ruleText = map[ruleKind]string{
	ruleDropSaddr4:         "ip saddr @" + setBlock4 + " counter drop",
	ruleDropSaddr6:         "ip6 saddr @" + setBlock6 + " counter drop",
	ruleDropDaddr4:         "ip daddr @" + setBlock4 + " counter drop",
	ruleDropDaddr6:         "ip6 daddr @" + setBlock6 + " counter drop",
	ruleDropDportTCP:       "tcp dport @" + setPorts + " counter drop",
	ruleDropDportUDP:       "udp dport @" + setPorts + " counter drop",
	ruleDropInportTCP:      "tcp dport @" + setInPorts + " counter drop",
	ruleDropInportUDP:      "udp dport @" + setInPorts + " counter drop",
	ruleAcceptIifLo:        `iifname "lo" accept`,
	ruleAcceptOifLo:        `oifname "lo" accept`,
	ruleAcceptDHCP4In:      "udp dport 68 accept",
	ruleAcceptDHCP6In:      "udp dport 546 accept",
	ruleAcceptDHCP4Out:     "udp dport 67 accept",
	ruleAcceptDHCP6Out:     "udp dport 547 accept",
	ruleAcceptND:           "icmpv6 type 133-136 accept",
	ruleAcceptRelatedICMP:  "meta l4proto icmp ct state related accept",
	ruleAcceptRelatedICMP6: "meta l4proto ipv6-icmp ct state related accept",
	ruleAcceptAllowIn4:     "ip saddr . th dport @" + setAllow4 + " accept",
	ruleAcceptAllowIn6:     "ip6 saddr . th dport @" + setAllow6 + " accept",
	ruleAcceptReplyIn4:     "ct state established,related ip saddr . th sport @" + setAllow4 + " accept",
	ruleAcceptReplyIn6:     "ct state established,related ip6 saddr . th sport @" + setAllow6 + " accept",
	ruleAcceptAllowOut4:    "ip daddr . th dport @" + setAllow4 + " accept",
	ruleAcceptAllowOut6:    "ip6 daddr . th dport @" + setAllow6 + " accept",
	ruleAcceptReplyOut4:    "ct state established,related ip daddr . th sport @" + setAllow4 + " accept",
	ruleAcceptReplyOut6:    "ct state established,related ip6 daddr . th sport @" + setAllow6 + " accept",
	ruleDropAll:            "counter drop",
}

// chainsFor lists the base chains a ruleset needs, in a fixed order.
// Blocking and isolation are separate chains: a drop in either is final,
// and Read tells isolation by its chains.
func chainsFor(r Ruleset) []chainSpec {
	var out []chainSpec
	add := func(name, hook string, rules ...ruleKind) {
		if len(rules) == 0 {
			return
		}
		c := chainSpec{name: name, hook: hook, rules: rules}
		for _, k := range rules {
			c.lines = append(c.lines, ruleText[k])
		}
		out = append(out, c)
	}
	addrs, ports, inports := len(r.BlockAddrs) > 0, len(r.BlockPorts) > 0, len(r.InboundBlockPorts) > 0
	var in, outR, fwd []ruleKind
	if addrs {
		in = append(in, ruleDropSaddr4, ruleDropSaddr6)
		outR = append(outR, ruleDropDaddr4, ruleDropDaddr6)
		fwd = append(fwd, ruleDropSaddr4, ruleDropSaddr6, ruleDropDaddr4, ruleDropDaddr6)
	}
	if inports {
		in = append(in, ruleDropInportTCP, ruleDropInportUDP)
	}
	if ports {
		outR = append(outR, ruleDropDportTCP, ruleDropDportUDP)
		fwd = append(fwd, ruleDropDportTCP, ruleDropDportUDP)
	}
	add(chainBlockIn, "input", in...)
	add(chainBlockOut, "output", outR...)
	add(chainBlockFwd, "forward", fwd...)
	if r.Isolate {
		add(chainIsolateIn, "input", ruleAcceptIifLo, ruleAcceptDHCP4In, ruleAcceptDHCP6In, ruleAcceptND, ruleAcceptRelatedICMP, ruleAcceptRelatedICMP6,
			ruleAcceptAllowIn4, ruleAcceptAllowIn6, ruleAcceptReplyIn4, ruleAcceptReplyIn6, ruleDropAll)
		add(chainIsoOut, "output", ruleAcceptOifLo, ruleAcceptDHCP4Out, ruleAcceptDHCP6Out, ruleAcceptND, ruleAcceptRelatedICMP, ruleAcceptRelatedICMP6,
			ruleAcceptAllowOut4, ruleAcceptAllowOut6, ruleAcceptReplyOut4, ruleAcceptReplyOut6, ruleDropAll)
		add(chainIsoFwd, "forward", ruleDropAll)
	}
	return out
}

// Option selects where the firewall functions operate.
type Option func(*options)

type options struct {
	netnsPath string
	netnsFd   int
}

// WithNetNS operates in the network namespace at path (for example
// /var/run/netns/NAME or /proc/PID/ns/net) instead of the caller's.
func WithNetNS(path string) Option { return func(o *options) { o.netnsPath = path } }

// WithNetNSFd operates in the network namespace the open fd refers to.
func WithNetNSFd(fd int) Option { return func(o *options) { o.netnsFd = fd } }
