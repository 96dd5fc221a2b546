package intel

import (
	"net/netip"
	"path"
	"regexp"
	"strings"

	"golang.org/x/net/idna"
)

// nameSuffixes are stripped from program names before lookup, so
// "xmrig-x64.exe" and "xmrig_amd64" find xmrig.
var nameSuffixes = []string{".exe", ".bin", ".sh", "-x64", "_x64", "-x86_64", "_amd64", "-amd64", "-linux", "_linux", "-static", "-cpu", "-gpu", "-cuda", "-opencl"}

// Program looks a process or file name up among known programs. Names in
// exact_only (generic words such as "miner") match only exactly.
func (db *DB) Program(name string) (*Program, bool) {
	n := strings.ToLower(path.Base(strings.TrimSpace(name)))
	if n == "" || n == "." || n == "/" {
		return nil, false
	}
	if p, ok := db.programByName[n]; ok {
		return p, true
	}
	for changed := true; changed; {
		changed = false
		for _, s := range nameSuffixes {
			if t, ok := strings.CutSuffix(n, s); ok && t != "" {
				n, changed = t, true
			}
		}
	}
	if db.exactOnly[n] {
		return nil, false
	}
	p, ok := db.programByName[n]
	return p, ok
}

// NormalizeDomain lower-cases a name, strips a trailing dot and a leading
// "*." wildcard, and turns an internationalised name into its punycode
// form (the form lists and resolvers use); a name IDNA refuses is
// returned lower-cased as it is, so it simply matches nothing.
func NormalizeDomain(d string) string {
	// Fast path: names from captures and logs are nearly always already
	// lower-case ASCII without a trailing dot; one scan proves it.
	if d != "" && d[len(d)-1] != '.' && d[0] != '*' && plainLower(d) {
		return d
	}
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimSuffix(d, ".")
	d = strings.TrimPrefix(d, "*.")
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			if a, err := idna.Lookup.ToASCII(d); err == nil {
				return a
			}
			break
		}
	}
	return d
}

// Domain reports whether name is a listed domain or a subdomain of one
// ("a.pool.example" matches "pool.example"; "notpool.example" does not)
// and the allowlist does not cover it.
func (db *DB) Domain(name string) (*Domain, bool) {
	n := NormalizeDomain(name)
	d, ok := db.domainIndex.match(n)
	if !ok || db.allowedDomain(n) {
		return nil, false
	}
	return d, true
}

// plainLower reports whether s has no space, control, upper-case or
// non-ASCII byte.
func plainLower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		// int8(c) <= ' ' is true for controls, space and bytes >= 0x80.
		if int8(c) <= ' ' || c-'A' < 26 {
			return false
		}
	}
	return true
}

// DomainKeyword returns the mining keyword contained in a domain's labels,
// a weak hint for names not in the list.
func (db *DB) DomainKeyword(name string) (string, bool) {
	n := NormalizeDomain(name)
	if db.allowedDomain(n) {
		return "", false
	}
	var labels []string
	for _, k := range db.Keywords {
		if !strings.ContainsAny(k, ".-") {
			// A keyword without separators lies inside one label wherever
			// it occurs: no need to split (this runs for every query of a
			// resolver log).
			if strings.Contains(n, k) {
				return k, true
			}
			continue
		}
		if labels == nil {
			labels = strings.FieldsFunc(n, func(r rune) bool { return r == '.' || r == '-' })
		}
		for _, label := range labels {
			if strings.Contains(label, k) {
				return k, true
			}
		}
	}
	return "", false
}

// DomainBytes is Domain for a name already normalised (lower case, no
// trailing dot, no "*." prefix). It does not allocate: a resolver log
// asks this for every one of millions of queries.
func (db *DB) DomainBytes(n []byte) (*Domain, bool) {
	d, ok := db.domainIndex.matchBytes(n)
	if !ok {
		return nil, false
	}
	if len(db.allowDomains.m) > 0 {
		if _, allowed := db.allowDomains.matchBytes(n); allowed {
			return nil, false
		}
	}
	return d, true
}

// HasDomainKeyword is DomainKeyword(n) != "" for a normalised name,
// without allocating: one pass over the name, comparing only keywords
// that start with the byte at hand.
func (db *DB) HasDomainKeyword(n []byte) bool {
	if db.keywordSlow || len(db.allowDomains.m) > 0 {
		_, ok := db.DomainKeyword(string(n))
		return ok
	}
	for i, c := range n {
		for _, k := range db.keywordAt[c] {
			if len(n)-i >= len(k) && string(n[i:i+len(k)]) == k {
				return true
			}
		}
	}
	return false
}

// IP reports whether an address is in a listed pool network.
func (db *DB) IP(a netip.Addr) (*IPEntry, bool) {
	i, ok := db.ipIndex.lookup(a)
	if !ok {
		return nil, false
	}
	if len(db.allow) > 0 && db.allowNets.coversBits(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())) {
		return nil, false
	}
	return &db.IPs[i], true
}

// Port reports whether port is a known mining port.
func (db *DB) Port(port uint16) (*Port, bool) {
	p, ok := db.portIndex[port]
	return p, ok
}

// Flag looks a command-line flag up (without any "=value").
func (db *DB) Flag(arg string) (*Flag, bool) {
	name, _, _ := strings.Cut(arg, "=")
	f, ok := db.flagIndex[name]
	return f, ok
}

// IsAlgorithm reports whether s names a mining algorithm.
func (db *DB) IsAlgorithm(s string) bool {
	s = strings.ToLower(s)
	for _, a := range db.Cmdline.Algorithms {
		if s == a {
			return true
		}
	}
	return false
}

// StratumURL reports whether s contains a mining URL scheme, returning the
// scheme found.
func (db *DB) StratumURL(s string) (string, bool) {
	l := strings.ToLower(s)
	for _, sch := range db.Cmdline.URLSchemes {
		if strings.Contains(l, sch) {
			return sch, true
		}
	}
	return "", false
}

// WalletMatch is a wallet address found in text.
type WalletMatch struct {
	Coin, Name, Address, Strength string
}

// FindWallets returns every wallet address in text, strongest first per position.
func (db *DB) FindWallets(text string) []WalletMatch {
	if !hasAlnumRun(text, minWalletRun) {
		// Every pattern needs a long alphanumeric run: skipping the regexes
		// for the many short strings in argv and environ is most of the
		// scan's wallet cost.
		return nil
	}
	var out []WalletMatch
	seen := map[string]bool{}
	for _, w := range db.Wallets {
		for _, m := range w.re.FindAllStringSubmatch(text, -1) {
			addr := m[1]
			if seen[addr] {
				continue
			}
			seen[addr] = true
			out = append(out, WalletMatch{Coin: w.Coin, Name: w.Name, Address: addr, Strength: w.Strength})
		}
	}
	return out
}

// KernelThreadName reports whether name looks like a kernel thread's.
func (db *DB) KernelThreadName(name string) bool {
	for _, re := range db.Processes.kthreadRE {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// Daemon returns the well-known program with this name.
func (db *DB) Daemon(name string) (*Daemon, bool) {
	d, ok := db.daemonIndex[name]
	return d, ok
}

// InTempDir reports whether a host path is inside a temp directory.
func (db *DB) InTempDir(p string) (string, bool) {
	for _, d := range db.Processes.TempDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return d, true
		}
	}
	return "", false
}

// hiddenComponent matches path components used to hide files: dot names,
// "...", and names that are or contain only spaces.
var hiddenComponent = regexp.MustCompile(`^\.|^\s|\s$|^\.{3,}$`)

// HiddenComponent returns the first path component that looks hidden.
func HiddenComponent(p string) (string, bool) {
	for _, c := range strings.Split(p, "/") {
		if c != "" && hiddenComponent.MatchString(c) {
			return c, true
		}
	}
	return "", false
}

// Framework returns the ML framework one of paths belongs to.
func (db *DB) Framework(paths []string) (string, bool) {
	for _, f := range db.Processes.MLFrameworks {
		for _, lib := range f.Libs {
			for _, p := range paths {
				if strings.Contains(p, lib) {
					return f.Name, true
				}
			}
		}
	}
	return "", false
}

// minWalletRun is the shortest alphanumeric run any wallet pattern in
// wallets.json can match (legacy Bitcoin: 1 + 25 characters);
// TestMinWalletRun keeps it honest against the data.
const minWalletRun = 26

// hasAlnumRun reports whether text has n ASCII letters or digits in a row.
func hasAlnumRun(text string, n int) bool {
	run := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			run++
			if run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
