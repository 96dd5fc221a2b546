package isolate

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/firewall"
)

// Targets are the pool addresses and ports a report points at.
type Targets struct {
	Addrs []netip.Prefix
	// Ports are the remote ports seen; the caller decides which to block
	// (a pool on 443 must not cut the web).
	Ports []uint16
	// Skipped says what was left out and why ("file: finding 3: ...").
	Skipped []string
}

// FromReport reads a scan or net report (JSON, as `scan --format json` or
// `net ... --format json` write it) and collects the remote ends of
// network findings at or above min: evidence remote (scan), dst_ip and
// dst_port of flows that carried mining or named a pool in TLS (net; a
// DNS lookup's dst_ip is the resolver, never a pool), and the remotes of
// incidents at or above min. Loopback, unspecified, multicast and
// link-local addresses are never blocked.
func FromReport(r io.Reader, name string, min findings.Severity) (Targets, error) {
	var rep findings.Report
	dec := json.NewDecoder(r)
	if err := dec.Decode(&rep); err != nil {
		if se, ok := err.(*json.SyntaxError); ok {
			return Targets{}, fmt.Errorf("%s: offset %d: %w", name, se.Offset, err)
		}
		if te, ok := err.(*json.UnmarshalTypeError); ok {
			return Targets{}, fmt.Errorf("%s: field %s (offset %d): %w", name, te.Field, te.Offset, err)
		}
		return Targets{}, fmt.Errorf("%s: %w", name, err)
	}
	var t Targets
	addrs := map[netip.Addr]bool{}
	ports := map[uint16]bool{}
	add := func(where, addr string, port int) {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			t.Skipped = append(t.Skipped, fmt.Sprintf("%s: %s: %q is not an address", name, where, addr))
			return
		}
		a = a.Unmap().WithZone("")
		if a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() {
			t.Skipped = append(t.Skipped, fmt.Sprintf("%s: %s: %s is not a remote host; not blocked", name, where, a))
			return
		}
		addrs[a] = true
		if port > 0 && port <= 0xffff {
			ports[uint16(port)] = true
		}
	}
	addPort := func(where, s string) {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			t.Skipped = append(t.Skipped, fmt.Sprintf("%s: %s: %q is not ADDR:PORT", name, where, s))
			return
		}
		add(where, ap.Addr().String(), int(ap.Port()))
	}
	// A lookup's dst_ip is the resolver; incidents of net reports may list
	// it among their remotes (timing findings about lookups).
	resolvers := map[string]bool{}
	for _, f := range rep.Findings {
		if ev := f.Evidence; ev.DstIP != "" && ev.Dialect == "" && ev.SNI == "" {
			resolvers[ev.DstIP] = true
		}
	}
	for i, f := range rep.Findings {
		if f.Signal != findings.SignalNetwork || f.Severity < min {
			continue
		}
		where := "findings[" + strconv.Itoa(i) + "] (" + f.Rule + ")"
		ev := f.Evidence
		if ev.Remote != "" {
			addPort(where+".evidence.remote", ev.Remote)
		}
		if ev.DstIP != "" && (ev.Dialect != "" || ev.SNI != "") {
			add(where+".evidence.dst_ip", ev.DstIP, ev.DstPort)
		}
	}
	for i, in := range rep.Incidents {
		if in.Severity < min {
			continue
		}
		for j, r := range in.Remotes {
			where := fmt.Sprintf("incidents[%d].remotes[%d]", i, j)
			if ap, err := netip.ParseAddrPort(r); err == nil && resolvers[ap.Addr().String()] {
				t.Skipped = append(t.Skipped, fmt.Sprintf("%s: %s: %s is the resolver of a DNS lookup; not blocked", name, where, ap.Addr()))
				continue
			}
			addPort(where, r)
		}
	}
	for a := range addrs {
		t.Addrs = append(t.Addrs, netip.PrefixFrom(a, a.BitLen()))
	}
	t.Addrs = firewall.NormalizePrefixes(t.Addrs)
	for p := range ports {
		t.Ports = append(t.Ports, p)
	}
	slices.Sort(t.Ports)
	return t, nil
}
