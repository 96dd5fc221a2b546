// Package trace maps an internal address, at a given time, to the machine
// and the people responsible for it: NAT logs (conntrack, Cisco ASA,
// FortiGate) turn a public source address and port back into the inside
// one, DHCP leases (dnsmasq, ISC dhcpd, Kea) say which device held the
// address then, and an inventory CSV (ip or CIDR, hostname, owner,
// department, location, contact) says whose it is and where it stands.
package trace

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/lines"
)

// Lease is one DHCP lease.
type Lease struct {
	Addr       netip.Addr
	MAC        string
	Hostname   string
	Start, End time.Time // zero when the format does not say
	Source     string    // file:line
}

// Asset is one inventory row.
type Asset struct {
	Net                                            netip.Prefix
	Hostname, Owner, Department, Location, Contact string
	Source                                         string
}

// Owner is what an address resolves to.
type Owner struct {
	Hostname, MAC, Owner, Department, Location, Contact string
	Sources                                             []string
}

// Tracer resolves addresses.
type Tracer struct {
	leases []Lease
	assets []Asset
	nat    []Translation

	// Warnings name the lines of the files read that were skipped for
	// their length; reading went on past them.
	Warnings []string
}

// maxLeaseFile bounds a lease file: a campus dhcpd.leases of 100,000
// leases between rewrites is about 40 MiB.
const maxLeaseFile = 256 << 20

// AddLeases reads a lease file in any supported format.
func (t *Tracer) AddLeases(r io.Reader, name string) error {
	r, err := lines.Decompress(r)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxLeaseFile+1))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxLeaseFile {
		// Cutting it would lose the newest leases, which are at the end.
		return fmt.Errorf("%s: larger than %d MiB; give the current lease file (dhcpd rewrites it hourly) or split it", name, maxLeaseFile>>20)
	}
	text := string(b)
	var ls []Lease
	switch {
	case strings.Contains(text, "lease ") && strings.Contains(text, "{"):
		ls, err = parseISC(text, name)
	case strings.HasPrefix(strings.TrimSpace(text), "address,"):
		ls, err = parseKea(text, name)
	default:
		ls, err = parseDnsmasq(text, name)
	}
	if err != nil {
		return err
	}
	t.leases = append(t.leases, ls...)
	return nil
}

func parseDnsmasq(text, name string) ([]Lease, error) {
	var out []Lease
	for i, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 4 {
			return out, fmt.Errorf("%s:%d: want expiry, MAC, address, hostname", name, i+1)
		}
		exp, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return out, fmt.Errorf("%s:%d: expiry %q", name, i+1, f[0])
		}
		a, err := netip.ParseAddr(f[2])
		if err != nil {
			return out, fmt.Errorf("%s:%d: address %q", name, i+1, f[2])
		}
		ls := Lease{Addr: a.Unmap(), MAC: strings.ToLower(f[1]), Source: fmt.Sprintf("%s:%d", name, i+1)}
		if f[3] != "*" {
			ls.Hostname = f[3]
		}
		if exp > 0 {
			ls.End = time.Unix(exp, 0).UTC()
		}
		out = append(out, ls)
	}
	return out, nil
}

var iscLease = regexp.MustCompile(`(?s)lease\s+(\S+)\s*\{(.*?)\}`)

func parseISC(text, name string) ([]Lease, error) {
	var out []Lease
	for _, m := range iscLease.FindAllStringSubmatchIndex(text, -1) {
		addr, body := text[m[2]:m[3]], text[m[4]:m[5]]
		line := strings.Count(text[:m[0]], "\n") + 1
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return out, fmt.Errorf("%s:%d: lease address %q", name, line, addr)
		}
		ls := Lease{Addr: a.Unmap(), Source: fmt.Sprintf("%s:%d", name, line)}
		for _, st := range strings.Split(body, ";") {
			f := strings.Fields(st)
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "starts", "ends":
				// "starts 4 2026/11/23 10:00:00" (UTC) or "never".
				if len(f) >= 4 {
					if t, err := time.Parse("2006/01/02 15:04:05", f[2]+" "+f[3]); err == nil {
						if f[0] == "starts" {
							ls.Start = t
						} else {
							ls.End = t
						}
					}
				}
			case "hardware":
				if len(f) >= 3 {
					ls.MAC = strings.ToLower(f[2])
				}
			case "client-hostname":
				if len(f) >= 2 {
					ls.Hostname = strings.Trim(f[1], `"`)
				}
			}
		}
		out = append(out, ls)
	}
	return out, nil
}

func parseKea(text, name string) ([]Lease, error) {
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimSpace(h)] = i
	}
	get := func(row []string, k string) string {
		if i, ok := col[k]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	var out []Lease
	for n, row := range rows[1:] {
		a, err := netip.ParseAddr(get(row, "address"))
		if err != nil {
			return out, fmt.Errorf("%s:%d: address %q", name, n+2, get(row, "address"))
		}
		ls := Lease{Addr: a.Unmap(), MAC: strings.ToLower(get(row, "hwaddr")), Hostname: get(row, "hostname"), Source: fmt.Sprintf("%s:%d", name, n+2)}
		if exp, err := strconv.ParseInt(get(row, "expire"), 10, 64); err == nil {
			ls.End = time.Unix(exp, 0).UTC()
			if vl, err := strconv.ParseInt(get(row, "valid_lifetime"), 10, 64); err == nil {
				ls.Start = ls.End.Add(-time.Duration(vl) * time.Second)
			}
		}
		out = append(out, ls)
	}
	return out, nil
}

// AddInventory reads an inventory CSV with a header naming the columns
// ip (an address or CIDR), hostname, owner, department, location, contact.
func (t *Tracer) AddInventory(r io.Reader, name string) error {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%s: header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	ipCol, ok := col["ip"]
	if !ok {
		if ipCol, ok = col["cidr"]; !ok {
			return fmt.Errorf("%s: header has no ip or cidr column", name)
		}
	}
	get := func(row []string, k string) string {
		if i, ok := col[k]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	for line := 2; ; line++ {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if ipCol >= len(row) {
			return fmt.Errorf("%s:%d: no ip field", name, line)
		}
		v := strings.TrimSpace(row[ipCol])
		var p netip.Prefix
		if strings.Contains(v, "/") {
			p, err = netip.ParsePrefix(v)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(v)
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if err != nil {
			return fmt.Errorf("%s:%d: ip %q: %w", name, line, v, err)
		}
		t.assets = append(t.assets, Asset{Net: p.Masked(), Hostname: get(row, "hostname"), Owner: get(row, "owner"),
			Department: get(row, "department"), Location: get(row, "location"), Contact: get(row, "contact"), Source: fmt.Sprintf("%s:%d", name, line)})
	}
}

// Resolve maps addr at time at (zero: latest knowledge) to its owner. The
// lease active at that time wins; else the latest lease of the address.
// The inventory row is the most specific network containing the address,
// or the row naming the lease's hostname.
func (t *Tracer) Resolve(addr netip.Addr, at time.Time) (Owner, bool) {
	addr = addr.Unmap()
	var o Owner
	var best *Lease
	for i := range t.leases {
		l := &t.leases[i]
		if l.Addr != addr {
			continue
		}
		active := !at.IsZero() && (l.Start.IsZero() || !at.Before(l.Start)) && (l.End.IsZero() || at.Before(l.End))
		switch {
		case best == nil,
			active && !(bestActive(best, at)),
			active == bestActive(best, at) && l.End.After(best.End):
			best = l
		}
	}
	if best != nil {
		o.Hostname, o.MAC = best.Hostname, best.MAC
		o.Sources = append(o.Sources, best.Source)
	}
	var asset *Asset
	for i := range t.assets {
		a := &t.assets[i]
		byHost := o.Hostname != "" && strings.EqualFold(a.Hostname, o.Hostname)
		if a.Net.Contains(addr) || byHost {
			if asset == nil || byHost && !strings.EqualFold(asset.Hostname, o.Hostname) || a.Net.Bits() > asset.Net.Bits() && a.Net.Contains(addr) {
				asset = a
			}
		}
	}
	if asset != nil {
		if o.Hostname == "" {
			o.Hostname = asset.Hostname
		}
		o.Owner, o.Department, o.Location, o.Contact = asset.Owner, asset.Department, asset.Location, asset.Contact
		o.Sources = append(o.Sources, asset.Source)
	}
	sort.Strings(o.Sources)
	return o, best != nil || asset != nil
}

func bestActive(l *Lease, at time.Time) bool {
	return !at.IsZero() && (l.Start.IsZero() || !at.Before(l.Start)) && (l.End.IsZero() || at.Before(l.End))
}
