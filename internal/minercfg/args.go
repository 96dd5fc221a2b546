package minercfg

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/minerguard/minerguard/internal/intel"
)

// PoolURL is a pool address taken from a command line or config file.
type PoolURL struct {
	// URL is the address as written ("stratum+tcp://pool.example:3333").
	URL string
	// Scheme is the lower-cased scheme without "://" ("" for host:port).
	Scheme string
	// Stratum says the scheme is one of intel's mining URL schemes.
	Stratum bool
	// Host is the lower-cased host name or IP address, Port the port ("" if none).
	Host string
	Port string
	// User is the userinfo before "@" (ethminer puts the wallet there).
	User string
	// Flag is the flag that carried it ("" when found elsewhere in argv).
	Flag string
	// Args are the exact argv words it came from.
	Args []string
}

// IsIP reports whether the pool host is a literal address.
func (u PoolURL) IsIP() bool {
	_, err := netip.ParseAddr(u.Host)
	return err == nil
}

// ArgValue is the value of a flag of interest, with the words it came from.
type ArgValue struct {
	Value string
	Flag  string
	// Index is the argv position of the value.
	Index int
	Args  []string
}

// Args is what a command line says about mining.
type Args struct {
	URLs  []PoolURL
	Users []ArgValue
	// Algorithms are algorithm names after -a/--algo/--algorithm or as
	// whole argv words.
	Algorithms []ArgValue
	// Configs are the files named by -c/--config/--config-file.
	Configs []ArgValue
}

// Flag names that take a configuration file or an algorithm. They are the
// common getopt spellings of every miner, not indicators: on their own
// they prove nothing, which is why they live here and not in intel.
var (
	configFlags = []string{"-c", "--config", "--config-file", "--cfg"}
	algoFlags   = []string{"-a", "--algo", "--algorithm"}
)

// maxArgs bounds the work on absurd command lines (argv can be 2 MiB).
const maxArgs = 4096

// PoolsFromArgs extracts pool URLs, users, algorithms and config files from
// argv using intel's url_flags, user_flags and url_schemes. It accepts
// "-o URL", "-o=URL", "--url=URL", "-oURL" for one-letter flags, and
// mining-scheme URLs anywhere (inside "sh -c" scripts too). A URL flag's
// value counts only if it looks like an address (scheme://host or
// host:port), so "ssh -o Opt=val" and "gcc -o out" give nothing.
func PoolsFromArgs(argv []string, db *intel.DB) Args {
	var a Args
	if len(argv) > maxArgs {
		argv = argv[:maxArgs]
	}
	seenURL := map[string]bool{}
	addURL := func(u PoolURL) {
		if seenURL[u.URL] {
			return
		}
		seenURL[u.URL] = true
		a.URLs = append(a.URLs, u)
		if u.User != "" {
			a.Users = append(a.Users, ArgValue{Value: u.User, Flag: u.Flag, Index: -1, Args: u.Args})
		}
	}
	for i := 1; i < len(argv); i++ {
		arg := argv[i]
		name, val, _, words, ok := flagValue(argv, i, db.Cmdline.URLFlags)
		if ok {
			if u, ok := ParseURL(val, db); ok {
				u.Flag, u.Args = name, words
				addURL(u)
			}
		}
		if name, val, idx, words, ok := flagValue(argv, i, db.Cmdline.UserFlags); ok && val != "" && !strings.HasPrefix(val, "-") {
			a.Users = append(a.Users, ArgValue{Value: val, Flag: name, Index: idx, Args: words})
		}
		if name, val, idx, words, ok := flagValue(argv, i, algoFlags); ok && db.IsAlgorithm(val) {
			a.Algorithms = append(a.Algorithms, ArgValue{Value: strings.ToLower(val), Flag: name, Index: idx, Args: words})
		} else if db.IsAlgorithm(arg) && !isFlagValue(argv, i, algoFlags) {
			a.Algorithms = append(a.Algorithms, ArgValue{Value: strings.ToLower(arg), Index: i, Args: []string{arg}})
		}
		if name, val, idx, words, ok := flagValue(argv, i, configFlags); ok && val != "" && !strings.HasPrefix(val, "-") {
			a.Configs = append(a.Configs, ArgValue{Value: val, Flag: name, Index: idx, Args: words})
		}
	}
	// Mining URLs anywhere in argv, including argv[0] and shell scripts.
	for i, arg := range argv {
		for _, raw := range schemeURLs(arg, db) {
			if u, ok := ParseURL(raw, db); ok {
				u.Args = []string{argv[i]}
				addURL(u)
			}
		}
	}
	return a
}

// isFlagValue reports whether argv[i] is the value of one of flags.
func isFlagValue(argv []string, i int, flags []string) bool {
	if i < 1 {
		return false
	}
	for _, f := range flags {
		if argv[i-1] == f {
			return true
		}
	}
	return false
}

// flagValue reads the value of one of flags at argv[i] in any of the
// spellings getopt accepts; words are the argv words used.
func flagValue(argv []string, i int, flags []string) (name, val string, idx int, words []string, ok bool) {
	arg := argv[i]
	for _, f := range flags {
		switch {
		case arg == f:
			if i+1 < len(argv) {
				return f, argv[i+1], i + 1, []string{arg, argv[i+1]}, true
			}
			return f, "", -1, []string{arg}, false
		case strings.HasPrefix(arg, f+"="):
			return f, arg[len(f)+1:], i, []string{arg}, true
		case len(f) == 2 && f[0] == '-' && f[1] != '-' && len(arg) > 2 && strings.HasPrefix(arg, f):
			// "-ohost:port": only an address counts, so "-O2" is no user.
			if rest := arg[2:]; strings.Contains(rest, ":") {
				return f, rest, i, []string{arg}, true
			}
		}
	}
	return "", "", -1, nil, false
}

// schemeURLs returns the substrings of s that start with a mining scheme.
func schemeURLs(s string, db *intel.DB) []string {
	var out []string
	// ASCII lower-casing keeps byte offsets: strings.ToLower would turn
	// invalid UTF-8 into longer replacement runes and misalign them.
	l := asciiLower(s)
	for _, sch := range db.Cmdline.URLSchemes {
		if sch == "" {
			continue
		}
		off := 0
		for {
			j := strings.Index(l[off:], sch)
			if j < 0 {
				break
			}
			start := off + j
			end := start + len(sch)
			for end < len(s) && !strings.ContainsRune(" \t\r\n\"'`,;|&<>()[]{}\\", rune(s[end])) {
				end++
			}
			// "stratum+tcp://" also contains "tcp://"-style suffixes of
			// other schemes; keep only the match that starts a word.
			if start == 0 || !isSchemeChar(s[start-1]) {
				out = append(out, s[start:end])
			}
			off = end
			if off >= len(s) {
				break
			}
		}
	}
	return out
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isSchemeChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// plainSchemes are transport schemes miners accept besides the stratum
// family; with them a URL flag's value must still name a port.
var plainSchemes = map[string]bool{"tcp": true, "ssl": true, "tls": true, "http": true, "https": true, "ws": true, "wss": true}

// ParseURL parses a pool address: "scheme://[user@]host[:port][/path]" or
// "host:port". It reports false for anything that is not plainly an
// address (file names, ssh options, bare words).
func ParseURL(s string, db *intel.DB) (PoolURL, bool) {
	s = strings.TrimSpace(s)
	u := PoolURL{URL: s}
	if s == "" || len(s) > 2048 || strings.ContainsAny(s, " \t\r\n") {
		return u, false
	}
	rest := s
	if sch, after, ok := strings.Cut(s, "://"); ok {
		u.Scheme = strings.ToLower(sch)
		rest = after
		for _, m := range db.Cmdline.URLSchemes {
			if strings.TrimSuffix(m, "://") == u.Scheme {
				u.Stratum = true
			}
		}
		if !u.Stratum && !plainSchemes[u.Scheme] {
			return u, false
		}
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		u.User, rest = rest[:i], rest[i+1:]
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return u, false
		}
		host = rest[1:j]
		if p, ok := strings.CutPrefix(rest[j+1:], ":"); ok {
			port = p
		} else if rest[j+1:] != "" {
			return u, false
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i+1:]
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return u, false
		}
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !validHost(host) {
		return u, false
	}
	// Without a mining scheme the address must name its port: that is what
	// tells "pool.example:3333" from a file name like "out.tar".
	if !u.Stratum && port == "" {
		return u, false
	}
	u.Host, u.Port = host, port
	return u, true
}

// validHost accepts an IP address or a DNS name with at least one dot (or
// "localhost"), so words such as "StrictHostKeyChecking" are not hosts.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "localhost" {
		return true
	}
	if !strings.Contains(h, ".") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
