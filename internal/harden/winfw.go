package harden

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Windows Firewall rules are kept as registry strings in the grammar of
// [MS-GPFAS] 2.2.2.19 ("v2.10|Action=Block|Active=TRUE|Dir=In|Protocol=6|
// LPort=445|Name=...|"); the same grammar is used by the firewall's local
// store. Reading and writing that store through the Registry interface keeps
// the firewall item pure Go and testable (the COM API INetFwPolicy2 would
// need hand-written vtable calls that nothing on Linux can exercise).

// Registry keys of the firewall stores.
const (
	keyFwPolicy     = `SOFTWARE\Policies\Microsoft\WindowsFirewall`
	keyFwPolicyRule = keyFwPolicy + `\FirewallRules`
	keyFwLocal      = `SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy`
	keyFwLocalRule  = keyFwLocal + `\FirewallRules`
)

// FirewallRule is the part of a rule that decides whether it blocks a port.
type FirewallRule struct {
	ID       string `json:"id"`
	Store    string `json:"store"` // "policy" or "local"
	Name     string `json:"name"`
	Action   string `json:"action"`   // Allow, Block, ByPass
	Dir      string `json:"dir"`      // In, Out
	Active   bool   `json:"active"`   // Active=TRUE
	Protocol int    `json:"protocol"` // -1 when absent (any)
	// LPorts are the local port ranges; nil means any port. Keyword ports
	// (RPC, IPHTTPS...) are kept in Keywords and never count as a port.
	LPorts   [][2]uint16 `json:"lports,omitempty"`
	Keywords []string    `json:"keywords,omitempty"`
	Profiles []string    `json:"profiles,omitempty"` // empty: all profiles
	// Narrowed is set when the rule applies only to some applications,
	// services, addresses or interfaces: it then does not block a port
	// for everyone.
	Narrowed []string `json:"narrowed,omitempty"`
}

const maxRuleLen = 64 << 10

// ParseFirewallRule parses one MS-GPFAS rule string. Fields it does not
// need are skipped; an error names the field and its byte offset.
func ParseFirewallRule(s string) (FirewallRule, error) {
	r := FirewallRule{Protocol: -1}
	if len(s) > maxRuleLen {
		return r, fmt.Errorf("rule is %d bytes (limit %d)", len(s), maxRuleLen)
	}
	if !strings.HasPrefix(s, "v") {
		return r, errors.New(`offset 0: rule does not start with "v" VERSION`)
	}
	bar := strings.IndexByte(s, '|')
	if bar < 0 {
		return r, errors.New("offset 0: no field after the version")
	}
	ver := s[1:bar]
	if dot := strings.IndexByte(ver, '.'); dot <= 0 || !digits(ver[:dot]) || !digits(ver[dot+1:]) {
		return r, fmt.Errorf("offset 1: bad version %q", ver)
	}
	off := bar + 1
	for off < len(s) {
		end := strings.IndexByte(s[off:], '|')
		if end < 0 {
			return r, fmt.Errorf("offset %d: field not ended by |", off)
		}
		field := s[off : off+end]
		eq := strings.IndexByte(field, '=')
		if eq <= 0 {
			return r, fmt.Errorf("offset %d: field %q has no name=value", off, field)
		}
		name, val := field[:eq], field[eq+1:]
		bad := func(what string) error { return fmt.Errorf("offset %d: %s %q: %s", off, name, val, what) }
		switch name {
		case "Action":
			r.Action = val
		case "Dir":
			r.Dir = val
		case "Active":
			switch val {
			case "TRUE":
				r.Active = true
			case "FALSE":
			default:
				return r, bad("want TRUE or FALSE")
			}
		case "Protocol":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > 255 || !digits(val) {
				return r, bad("want 0-255")
			}
			r.Protocol = n
		case "LPort", "LPort2_10":
			lo, hi, ok := portRange(val)
			if !ok {
				if val == "" || !isKeyword(val) {
					return r, bad("want a port, a range or a keyword")
				}
				r.Keywords = append(r.Keywords, val)
				break
			}
			r.LPorts = append(r.LPorts, [2]uint16{lo, hi})
		case "Profile":
			r.Profiles = append(r.Profiles, val)
		case "Name":
			r.Name = val
		case "App", "Svc", "LA4", "LA6", "RA4", "RA6", "IF", "IFType", "RPort", "RPort2_10", "RMauth", "RUAuth", "LUAuth", "LUOwn", "PCross", "Security", "Security2", "Security2_9":
			r.Narrowed = append(r.Narrowed, name)
		}
		off += end + 1
	}
	return r, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isKeyword: port keywords (RPC, RPC-EPMap, IPHTTPS, Teredo...) start
// with a letter, so a malformed number is never taken for one.
func isKeyword(s string) bool {
	if s == "" || !(s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func portRange(s string) (lo, hi uint16, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	if !digits(a) || !digits(b) {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(a, 10, 16)
	y, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil || x > y {
		return 0, 0, false
	}
	return uint16(x), uint16(y), true
}

// blocksInbound reports whether the rule blocks every inbound packet of
// proto to port, on every profile, for every program and peer.
func (r FirewallRule) blocksInbound(proto int, port uint16) bool {
	if !r.Active || !strings.EqualFold(r.Action, "Block") || !strings.EqualFold(r.Dir, "In") || len(r.Narrowed) > 0 {
		return false
	}
	if r.Protocol != -1 && r.Protocol != proto {
		return false
	}
	if len(r.Profiles) > 0 {
		have := map[string]bool{}
		for _, p := range r.Profiles {
			have[strings.ToLower(p)] = true
		}
		if !have["domain"] || !have["private"] || !have["public"] {
			return false
		}
	}
	if r.LPorts == nil && len(r.Keywords) == 0 {
		return true
	}
	for _, pr := range r.LPorts {
		if pr[0] <= port && port <= pr[1] {
			return true
		}
	}
	return false
}

// blockRule is the rule string minerguard adds: one protocol, every listed
// port, inbound, every profile. Version 2.10 is understood from Windows 7
// on and has every field used here.
func blockRule(name string, proto int, ports []uint16) (string, error) {
	if strings.ContainsAny(name, "|\x00") {
		return "", fmt.Errorf("rule name %q contains | or NUL", name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v2.10|Action=Block|Active=TRUE|Dir=In|Protocol=%d|", proto)
	ps := append([]uint16(nil), ports...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for _, p := range ps {
		fmt.Fprintf(&b, "LPort=%d|", p)
	}
	fmt.Fprintf(&b, "Name=%s|Desc=Added by minerguard harden; remove with minerguard harden --rollback|", name)
	return b.String(), nil
}

// RegistryFirewall is a Firewall over the registry stores. Rules are added
// to the Group Policy store (Software\Policies\Microsoft\WindowsFirewall\
// FirewallRules), whose grammar MS-GPFAS documents and which the firewall
// re-reads on a policy refresh; rules of both stores are read.
type RegistryFirewall struct {
	Reg Registry
	// RefreshPolicy asks Windows to re-apply machine policy (userenv's
	// RefreshPolicyEx); nil does nothing.
	RefreshPolicy func() error
}

// Rules reads both stores; a rule that does not parse is skipped with its
// error joined into err (the others are still returned).
func (f RegistryFirewall) Rules() ([]FirewallRule, error) {
	var out []FirewallRule
	var errs []error
	for _, st := range []struct{ key, name string }{{keyFwPolicyRule, "policy"}, {keyFwLocalRule, "local"}} {
		names, err := f.Reg.ValueNames(st.key)
		if errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf(`HKLM\%s: %w`, st.key, err))
			continue
		}
		sort.Strings(names)
		for _, n := range names {
			s, err := f.Reg.GetString(st.key, n)
			if err != nil {
				errs = append(errs, fmt.Errorf(`HKLM\%s\%s: %w`, st.key, n, err))
				continue
			}
			r, err := ParseFirewallRule(s)
			if err != nil {
				errs = append(errs, fmt.Errorf(`HKLM\%s\%s: %w`, st.key, n, err))
				continue
			}
			r.ID, r.Store = n, st.name
			out = append(out, r)
		}
	}
	return out, errors.Join(errs...)
}

// Rule reads a rule of the policy store.
func (f RegistryFirewall) Rule(id string) (string, bool, error) {
	s, err := f.Reg.GetString(keyFwPolicyRule, id)
	if errors.Is(err, ErrNotExist) {
		return "", false, nil
	}
	return s, err == nil, err
}

// PutRule writes a rule into the policy store.
func (f RegistryFirewall) PutRule(id, raw string) error {
	if _, err := ParseFirewallRule(raw); err != nil {
		return fmt.Errorf("rule %s: %w", id, err)
	}
	return f.Reg.SetString(keyFwPolicyRule, id, raw)
}

// DeleteRule removes a rule of the policy store.
func (f RegistryFirewall) DeleteRule(id string) error {
	return f.Reg.DeleteValue(keyFwPolicyRule, id)
}

// Refresh re-applies machine policy so the firewall reads the store.
func (f RegistryFirewall) Refresh() error {
	if f.RefreshPolicy == nil {
		return nil
	}
	return f.RefreshPolicy()
}
