// Package intel holds minerguard's threat intelligence: miner names, pool
// domains and ports, command-line flags, wallet patterns, byte signatures
// and what normal processes look like. The data is embedded JSON under
// data/ (documented in docs/intel.md) so a reader sees every indicator
// without reading Go; a DB is immutable once loaded.
package intel

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/netip"
	"regexp"
	"strings"
)

//go:embed data/*.json
var embedded embed.FS

// Manifest describes a version of the intel set.
type Manifest struct {
	Format      int      `json:"format"`
	Version     string   `json:"version"`
	Updated     string   `json:"updated"`
	Description string   `json:"description"`
	Sources     []Source `json:"sources"`
}

// Source is where indicators came from.
type Source struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	URL       string `json:"url,omitempty"`
	License   string `json:"license,omitempty"`
	Retrieved string `json:"retrieved"`
}

// Program is a known mining-related program.
type Program struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"` // miner, malware, manager, wallet
	Family    string   `json:"family,omitempty"`
	Coins     []string `json:"coins,omitempty"`
	Names     []string `json:"names"`
	ExactOnly []string `json:"exact_only,omitempty"`
	Source    string   `json:"source"`
}

// Domain is a pool or browser-mining domain.
type Domain struct {
	Domain   string `json:"domain"`
	Category string `json:"category"`
	Source   string `json:"source"`
}

// IPEntry is a pool address or network.
type IPEntry struct {
	CIDR     string `json:"cidr"`
	Category string `json:"category"`
	Source   string `json:"source"`
	prefix   netip.Prefix
}

// Port is a mining port.
type Port struct {
	Port   uint16 `json:"port"`
	Weight string `json:"weight"` // strong, weak
	Note   string `json:"note,omitempty"`
}

// Flag is a command-line flag that miners take.
type Flag struct {
	Flag    string `json:"flag"`
	Weight  string `json:"weight"`
	Program string `json:"program,omitempty"`
}

// Cmdline groups the command-line indicators.
type Cmdline struct {
	Flags      []Flag   `json:"flags"`
	URLSchemes []string `json:"url_schemes"`
	URLFlags   []string `json:"url_flags"`
	UserFlags  []string `json:"user_flags"`
	Algorithms []string `json:"algorithms"`
}

// WalletPattern is a coin address pattern.
type WalletPattern struct {
	Coin     string `json:"coin"`
	Name     string `json:"name"`
	Regex    string `json:"regex"`
	Strength string `json:"strength"`
	re       *regexp.Regexp
}

// Signature is a byte pattern found in mining executables.
type Signature struct {
	ID              string `json:"id"`
	Text            string `json:"text"`
	CaseInsensitive bool   `json:"case_insensitive,omitempty"`
	Weight          int    `json:"weight"`
	Family          string `json:"family,omitempty"`
}

// Packer is an executable packer's marker.
type Packer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Text string `json:"text"`
}

// Signatures groups byte patterns and the score a file needs.
type Signatures struct {
	Threshold int         `json:"threshold"`
	Patterns  []Signature `json:"patterns"`
	Packers   []Packer    `json:"packers"`
}

// Daemon is a well-known program and where it lives.
type Daemon struct {
	Name    string   `json:"name"`
	Dirs    []string `json:"dirs"`
	Markers []string `json:"markers,omitempty"`
}

// Framework is a machine-learning framework recognised by its libraries.
type Framework struct {
	Name string   `json:"name"`
	Libs []string `json:"libs"`
}

// Processes describes normal processes.
type Processes struct {
	KernelThreads []string    `json:"kernel_threads"`
	Daemons       []Daemon    `json:"daemons"`
	TempDirs      []string    `json:"temp_dirs"`
	MLFrameworks  []Framework `json:"ml_frameworks"`
	// HiddenDirAllow, Interpreters, Multicall and NameAllow describe normal
	// naming quirks (see processes.json and disguise.go).
	HiddenDirAllow []string    `json:"hidden_dir_allow"`
	TempExeAllow   []string    `json:"temp_exe_allow"`
	Interpreters   []string    `json:"interpreters"`
	Multicall      []string    `json:"multicall"`
	NameAllow      []NameAllow `json:"name_allow"`
	kthreadRE      []*regexp.Regexp
	interpRE       []*regexp.Regexp
}

// DB is a loaded, validated intel set. It is read-only after Load.
type DB struct {
	Manifest   Manifest
	Programs   []Program
	Domains    []Domain
	Keywords   []string
	IPs        []IPEntry
	Ports      []Port
	Cmdline    Cmdline
	Wallets    []WalletPattern
	Signatures Signatures
	Processes  Processes

	programByName map[string]*Program
	exactOnly     map[string]bool
	domainIndex   suffixIndex[*Domain]
	// keywordAt[c] lists the keywords of one label that start with byte
	// c; keywordSlow is set when some keyword needs DomainKeyword's
	// label split (it has a separator or is empty).
	keywordAt   [256][]string
	keywordSlow bool
	portIndex   map[uint16]*Port
	flagIndex   map[string]*Flag
	daemonIndex map[string]*Daemon
	ipIndex     *netIndex

	// allow is the allowlist of an overlay (see WithOverlay).
	allow        []string
	allowDomains suffixIndex[bool]
	allowNets    *netIndex

	// fsys and dir are where the set was loaded from, for Section.
	fsys fs.FS
	dir  string
}

// Section decodes data/NAME.json of this intel set into v. Checks that own
// a kind of indicator (persistence patterns, web-miner scripts, ...) keep
// it in a file of their own and read it through here, so adding one never
// touches the loader; errors name the file and field.
func (db *DB) Section(name string, v any) error {
	if db.fsys == nil {
		return fmt.Errorf("intel %s.json: intel set has no files", name)
	}
	b, err := fs.ReadFile(db.fsys, db.dir+"/"+name+".json")
	if err != nil {
		return fmt.Errorf("intel: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("intel %s.json: %w", name, err)
	}
	return nil
}

// Load reads the embedded intel set.
func Load() (*DB, error) { return LoadFS(embedded, "data") }

// MustLoad is Load for the embedded set, which the tests prove valid.
func MustLoad() *DB {
	db, err := Load()
	if err != nil {
		panic("embedded intel is invalid: " + err.Error())
	}
	return db
}

// LoadFS reads an intel set from dir in fsys (the embedded set or an
// overlay directory). Every error names the file and field.
func LoadFS(fsys fs.FS, dir string) (*DB, error) {
	db := &DB{fsys: fsys, dir: dir}
	var pools struct {
		Domains  []Domain  `json:"domains"`
		Keywords []string  `json:"keywords"`
		IPs      []IPEntry `json:"ips"`
		Ports    []Port    `json:"ports"`
	}
	var miners struct {
		Programs []Program `json:"programs"`
	}
	var wallets struct {
		Patterns []WalletPattern `json:"patterns"`
	}
	files := []struct {
		name string
		dst  any
	}{
		{"manifest.json", &db.Manifest},
		{"miners.json", &miners},
		{"pools.json", &pools},
		{"cmdline.json", &db.Cmdline},
		{"wallets.json", &wallets},
		{"signatures.json", &db.Signatures},
		{"processes.json", &db.Processes},
	}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, dir+"/"+f.name)
		if err != nil {
			return nil, fmt.Errorf("intel: %w", err)
		}
		if err := json.Unmarshal(b, f.dst); err != nil {
			return nil, fmt.Errorf("intel %s: %w", f.name, err)
		}
	}
	db.Programs, db.Domains, db.Keywords, db.IPs, db.Ports, db.Wallets =
		miners.Programs, pools.Domains, pools.Keywords, pools.IPs, pools.Ports, wallets.Patterns
	if err := db.index(); err != nil {
		return nil, err
	}
	return db, nil
}

func (db *DB) index() error {
	if db.Manifest.Version == "" {
		return fmt.Errorf("intel manifest.json: version is empty")
	}
	db.programByName = map[string]*Program{}
	db.exactOnly = map[string]bool{}
	for i := range db.Programs {
		p := &db.Programs[i]
		switch p.Kind {
		case "miner", "malware", "manager", "wallet":
		default:
			return fmt.Errorf("intel miners.json: programs[%d] (%s): kind %q", i, p.Name, p.Kind)
		}
		for _, n := range p.Names {
			db.programByName[strings.ToLower(n)] = p
		}
		for _, n := range p.ExactOnly {
			db.exactOnly[strings.ToLower(n)] = true
		}
	}
	db.domainIndex = newSuffixIndex[*Domain](len(db.Domains))
	for i := range db.Domains {
		d := &db.Domains[i]
		norm := NormalizeDomain(d.Domain)
		if norm == "" || !strings.Contains(norm, ".") {
			return fmt.Errorf("intel pools.json: domains[%d]: %q is not a domain", i, d.Domain)
		}
		db.domainIndex.set(norm, d)
	}
	for _, k := range db.Keywords {
		if k == "" || strings.ContainsAny(k, ".-") {
			db.keywordSlow = true
			continue
		}
		db.keywordAt[k[0]] = append(db.keywordAt[k[0]], k)
	}
	for i := range db.IPs {
		e := &db.IPs[i]
		pfx, err := parsePrefix(e.CIDR)
		if err != nil {
			return fmt.Errorf("intel pools.json: ips[%d]: %w", i, err)
		}
		e.prefix = pfx
	}
	db.ipIndex = newNetIndex(len(db.IPs))
	for i := range db.IPs {
		db.ipIndex.add(db.IPs[i].prefix, int32(i))
	}
	db.ipIndex.done()
	db.portIndex = map[uint16]*Port{}
	for i := range db.Ports {
		p := &db.Ports[i]
		if p.Port == 0 {
			return fmt.Errorf("intel pools.json: ports[%d]: port 0", i)
		}
		db.portIndex[p.Port] = p
	}
	db.flagIndex = map[string]*Flag{}
	for i := range db.Cmdline.Flags {
		db.flagIndex[db.Cmdline.Flags[i].Flag] = &db.Cmdline.Flags[i]
	}
	for i := range db.Wallets {
		w := &db.Wallets[i]
		re, err := regexp.Compile(`(?:^|[^0-9A-Za-z])(` + w.Regex + `)(?:$|[^0-9A-Za-z])`)
		if err != nil {
			return fmt.Errorf("intel wallets.json: patterns[%d] (%s): %w", i, w.Name, err)
		}
		w.re = re
	}
	if db.Signatures.Threshold <= 0 {
		return fmt.Errorf("intel signatures.json: threshold must be positive")
	}
	for i, s := range db.Signatures.Patterns {
		if s.Text == "" || s.Weight <= 0 {
			return fmt.Errorf("intel signatures.json: patterns[%d] (%s): empty text or weight", i, s.ID)
		}
	}
	for _, k := range db.Processes.KernelThreads {
		re, err := regexp.Compile(k)
		if err != nil {
			return fmt.Errorf("intel processes.json: kernel_threads %q: %w", k, err)
		}
		db.Processes.kthreadRE = append(db.Processes.kthreadRE, re)
	}
	db.daemonIndex = map[string]*Daemon{}
	for i := range db.Processes.Daemons {
		db.daemonIndex[db.Processes.Daemons[i].Name] = &db.Processes.Daemons[i]
	}
	return db.Processes.indexDisguise()
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("cidr %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("cidr %q: %w", s, err)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
