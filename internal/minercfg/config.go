// Package minercfg reads what miners are told to do: their configuration
// files (XMRig, xmr-stak, cpuminer/ccminer and generic JSON naming pools
// and wallets) and their command lines. Both readers take untrusted input
// from the scanned host, so they never panic and every error names the
// file and the field.
package minercfg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/minerguard/minerguard/internal/intel"
)

// Format is the kind of configuration a file was recognised as.
type Format string

// Formats.
const (
	FormatXMRig    Format = "xmrig"
	FormatXMRStak  Format = "xmr-stak"
	FormatCPUMiner Format = "cpuminer"
	FormatGeneric  Format = "generic"
	FormatUnknown  Format = ""
)

// Pool is one pool entry of a configuration.
type Pool struct {
	URL   PoolURL
	User  string
	Pass  string
	Algo  string
	Coin  string
	Field string // JSON path of the URL ("pools[0].url")
}

// Config is what a configuration file says.
type Config struct {
	Format Format
	Pools  []Pool
	// URLs are every pool address found (also outside pool entries).
	URLs []PoolURL
	// Users are the users/wallets of the pools, deduplicated.
	Users []string
	// Algorithms and Coins named in the file, lower-cased, deduplicated.
	Algorithms []string
	Coins      []string
	// Keys are the JSON paths that prove the file is a miner config.
	Keys []string
}

// IsMiner reports whether the file is recognisably a miner configuration.
func (c *Config) IsMiner() bool { return c != nil && c.Format != FormatUnknown }

// ParseError is a malformed configuration file.
type ParseError struct {
	File  string
	Field string // JSON path, "" for syntax errors
	Line  int    // 1-based, 0 if unknown
	Err   error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// MaxSize is the largest file ParseConfig reads; miner configs are a few KiB.
const MaxSize = 1 << 20

// maxDepth bounds recursion over nested JSON from hostile files.
const maxDepth = 32

// Format-defining keys. These are the documented schemas of the miners
// (the fields this parser reads), not detection indicators.
var (
	xmrigTopKeys   = []string{"donate-level", "donate-over-proxy", "randomx", "cpu", "opencl", "cuda", "pools", "print-time", "health-print-time", "autosave"}
	xmrigPoolKeys  = []string{"user", "pass", "rig-id", "nicehash", "keepalive", "tls", "tls-fingerprint", "algo", "coin", "daemon", "enabled", "socks5"}
	xmrStakTopKeys = []string{"pool_list", "currency", "cpu_threads_conf", "gpu_threads_conf", "call_timeout", "retry_time", "giveup_limit", "verbose_level", "h_print_time", "use_slow_memory", "daemon_mode", "flush_stdout"}
	genericURLKeys = []string{"pool", "pool_url", "poolurl", "pool_address", "pool_host", "stratum", "stratum_url", "server", "url", "host", "address"}
	genericWallet  = []string{"wallet", "wallet_address", "walletaddress", "wal", "user", "username", "login", "address", "account", "payout_address"}
)

// ParseConfig parses a miner configuration file. name is used only in
// errors. It accepts what the miners' own readers (rapidjson with
// comments and trailing commas) accept, and xmr-stak's brace-less
// "key" : value lists. A file that parses but is not a miner config gives
// a Config with Format "" and no error.
func ParseConfig(name string, data []byte, db *intel.DB) (*Config, error) {
	if len(data) > MaxSize {
		return nil, &ParseError{File: name, Err: fmt.Errorf("file is %d bytes, more than the %d a miner config can be", len(data), MaxSize)}
	}
	clean, err := cleanJSON(data)
	if err != nil {
		return nil, &ParseError{File: name, Line: lineOf(data, err.(*offsetError).off), Err: err}
	}
	shift := 0
	trim := bytes.TrimSpace(clean)
	if len(trim) == 0 {
		return nil, &ParseError{File: name, Err: errors.New("empty file")}
	}
	if trim[0] != '{' && trim[0] != '[' {
		// xmr-stak's config.txt and pools.txt are object members without
		// the braces; xmr-stak adds them before parsing, so do we.
		clean = stripTrailingComma(clean)
		clean = append(append([]byte("{"), clean...), '}')
		shift = 1
	}
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		line := 0
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line = lineOf(data, int(se.Offset)-shift)
		}
		return nil, &ParseError{File: name, Line: line, Err: err}
	}
	if dec.More() {
		off := int(dec.InputOffset()) - shift
		return nil, &ParseError{File: name, Line: lineOf(data, off), Err: errors.New("data after the top-level value")}
	}
	c := &Config{}
	p := &parser{file: name, db: db, c: c, seenURL: map[string]bool{}}
	if err := p.root(root); err != nil {
		return nil, err
	}
	c.Users = dedupe(c.Users)
	c.Algorithms = dedupe(c.Algorithms)
	c.Coins = dedupe(c.Coins)
	c.Keys = dedupe(c.Keys)
	return c, nil
}

type parser struct {
	file    string
	db      *intel.DB
	c       *Config
	seenURL map[string]bool
}

func (p *parser) errf(field, format string, args ...any) error {
	return &ParseError{File: p.file, Field: field, Err: fmt.Errorf(format, args...)}
}

func (p *parser) addURL(u PoolURL) {
	if !p.seenURL[u.URL] {
		p.seenURL[u.URL] = true
		p.c.URLs = append(p.c.URLs, u)
	}
}

func (p *parser) root(v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		// A top-level array: ccminer and some tools accept a list of pools.
		if arr, ok := v.([]any); ok {
			return p.generic("", arr, 0)
		}
		return nil
	}
	if pools, ok := obj["pools"]; ok {
		if err := p.xmrigPools(obj, pools); err != nil {
			return err
		}
	}
	if pl, ok := obj["pool_list"]; ok {
		if err := p.xmrStakPools(pl); err != nil {
			return err
		}
	}
	if p.c.Format == FormatUnknown {
		if err := p.cpuminer(obj); err != nil {
			return err
		}
	}
	if err := p.topKeys(obj); err != nil {
		return err
	}
	if p.c.Format == FormatUnknown || len(p.c.URLs) == 0 {
		// Pools under other names, or URLs with mining schemes anywhere.
		if err := p.generic("", obj, 0); err != nil {
			return err
		}
	}
	return nil
}

// topKeys records the format-specific top-level keys present; two or more
// identify a config even without a pool (xmr-stak's config.txt has none).
func (p *parser) topKeys(obj map[string]any) error {
	var xm, xs []string
	for _, k := range xmrigTopKeys {
		if _, ok := obj[k]; ok && k != "pools" {
			xm = append(xm, k)
		}
	}
	for _, k := range xmrStakTopKeys {
		if _, ok := obj[k]; ok && k != "pool_list" {
			xs = append(xs, k)
		}
	}
	if v, ok := obj["donate-level"]; ok {
		if _, isNum := v.(json.Number); !isNum {
			return p.errf("donate-level", "want a number, got %s", kind(v))
		}
	}
	for _, k := range []string{"algo", "coin", "currency"} {
		if v, ok := obj[k]; ok && v != nil {
			s, isStr := v.(string)
			if !isStr {
				return p.errf(k, "want a string, got %s", kind(v))
			}
			p.algoOrCoin(k, s)
		}
	}
	switch {
	case p.c.Format == FormatXMRig || (p.c.Format == FormatUnknown && len(xm) >= 2):
		p.c.Format = FormatXMRig
		p.c.Keys = append(p.c.Keys, xm...)
	case p.c.Format == FormatXMRStak || (p.c.Format == FormatUnknown && len(xs) >= 2):
		p.c.Format = FormatXMRStak
		p.c.Keys = append(p.c.Keys, xs...)
	}
	return nil
}

func (p *parser) algoOrCoin(key, s string) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return
	}
	if key == "algo" || p.db.IsAlgorithm(s) {
		p.c.Algorithms = append(p.c.Algorithms, s)
	} else {
		p.c.Coins = append(p.c.Coins, s)
	}
}

// xmrigPools reads XMRig's (and ccminer's) "pools": [{"url": ...}].
func (p *parser) xmrigPools(obj map[string]any, v any) error {
	arr, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil
		}
		return p.errf("pools", "want an array, got %s", kind(v))
	}
	for i, e := range arr {
		field := fmt.Sprintf("pools[%d]", i)
		po, ok := e.(map[string]any)
		if !ok {
			return p.errf(field, "want an object, got %s", kind(e))
		}
		raw, has := po["url"]
		if !has {
			continue
		}
		s, ok := raw.(string)
		if !ok {
			return p.errf(field+".url", "want a string, got %s", kind(raw))
		}
		pool := Pool{Field: field + ".url"}
		proof := 0
		for _, k := range xmrigPoolKeys {
			fv, ok := po[k]
			if !ok {
				continue
			}
			proof++
			switch k {
			case "user", "pass", "algo", "coin", "rig-id":
				if fv == nil {
					continue
				}
				fs, ok := fv.(string)
				if !ok {
					return p.errf(field+"."+k, "want a string, got %s", kind(fv))
				}
				switch k {
				case "user":
					pool.User = fs
				case "pass":
					pool.Pass = fs
				case "algo":
					pool.Algo = strings.ToLower(fs)
				case "coin":
					pool.Coin = strings.ToLower(fs)
				}
			}
		}
		u, ok := ParseURL(s, p.db)
		if !ok {
			// XMRig rejects such entries too; remember nothing, but a
			// scheme-less name with no port is not a pool we can name.
			continue
		}
		pool.URL = u
		// A "pools" array of objects with URLs is also how connection
		// pools and load balancers are configured; only a mining scheme or
		// miner pool fields (user/pass/nicehash...) make it a miner's.
		if !u.Stratum && proof == 0 && !hasOtherXMRigKey(obj) {
			continue
		}
		p.c.Format = FormatXMRig
		p.c.Pools = append(p.c.Pools, pool)
		p.c.Keys = append(p.c.Keys, pool.Field)
		p.addURL(u)
		p.addPoolFacts(pool)
	}
	return nil
}

func (p *parser) addPoolFacts(pool Pool) {
	if pool.User != "" {
		p.c.Users = append(p.c.Users, pool.User)
	} else if pool.URL.User != "" {
		p.c.Users = append(p.c.Users, pool.URL.User)
	}
	if pool.Algo != "" {
		p.c.Algorithms = append(p.c.Algorithms, pool.Algo)
	}
	if pool.Coin != "" {
		p.c.Coins = append(p.c.Coins, pool.Coin)
	}
}

// xmrStakPools reads xmr-stak's "pool_list": [{"pool_address": ...}].
func (p *parser) xmrStakPools(v any) error {
	arr, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil
		}
		return p.errf("pool_list", "want an array, got %s", kind(v))
	}
	for i, e := range arr {
		field := fmt.Sprintf("pool_list[%d]", i)
		po, ok := e.(map[string]any)
		if !ok {
			return p.errf(field, "want an object, got %s", kind(e))
		}
		pool := Pool{Field: field + ".pool_address"}
		strs := map[string]*string{"pool_address": nil, "wallet_address": &pool.User, "pool_password": &pool.Pass, "rig_id": nil}
		var addr string
		for k, dst := range strs {
			fv, ok := po[k]
			if !ok || fv == nil {
				continue
			}
			s, ok := fv.(string)
			if !ok {
				return p.errf(field+"."+k, "want a string, got %s", kind(fv))
			}
			if dst != nil {
				*dst = s
			}
			if k == "pool_address" {
				addr = s
			}
		}
		if addr == "" {
			continue
		}
		u, ok := ParseURL(addr, p.db)
		if !ok {
			continue
		}
		pool.URL = u
		p.c.Format = FormatXMRStak
		p.c.Pools = append(p.c.Pools, pool)
		p.c.Keys = append(p.c.Keys, pool.Field)
		p.addURL(u)
		p.addPoolFacts(pool)
	}
	return nil
}

// cpuminer reads cpuminer/ccminer's flat {"url", "user", "algo"} form.
// "url" and "user" are common words, so the file counts only when the
// URL has a mining scheme, the algorithm is a mining one, or the user is
// a wallet address.
func (p *parser) cpuminer(obj map[string]any) error {
	raw, ok := obj["url"]
	if !ok {
		return nil
	}
	s, ok := raw.(string)
	if !ok {
		// A generic file may well use "url" for something else.
		return nil
	}
	u, ok := ParseURL(s, p.db)
	if !ok {
		return nil
	}
	pool := Pool{URL: u, Field: "url"}
	for _, k := range []string{"user", "userpass", "pass", "algo"} {
		fv, ok := obj[k]
		if !ok || fv == nil {
			continue
		}
		fs, ok := fv.(string)
		if !ok {
			return p.errf(k, "want a string, got %s", kind(fv))
		}
		switch k {
		case "user":
			pool.User = fs
		case "userpass":
			if pool.User == "" {
				pool.User, _, _ = strings.Cut(fs, ":")
			}
		case "pass":
			pool.Pass = fs
		case "algo":
			pool.Algo = strings.ToLower(fs)
		}
	}
	keys := []string{"url"}
	proof := u.Stratum
	if pool.Algo != "" && p.db.IsAlgorithm(pool.Algo) {
		proof = true
		keys = append(keys, "algo")
	}
	if pool.User != "" && len(p.db.FindWallets(pool.User)) > 0 {
		proof = true
		keys = append(keys, "user")
	}
	if !proof {
		return nil
	}
	p.c.Format = FormatCPUMiner
	p.c.Pools = append(p.c.Pools, pool)
	p.c.Keys = append(p.c.Keys, keys...)
	p.addURL(u)
	p.addPoolFacts(pool)
	return nil
}

// generic walks any JSON for pool addresses: strings with a mining scheme
// anywhere, or host:port values under pool-like keys next to a wallet.
func (p *parser) generic(path string, v any, depth int) error {
	if depth > maxDepth {
		return p.errf(path, "nested deeper than %d levels", maxDepth)
	}
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var wallet string
		for _, k := range keys {
			if s, ok := t[k].(string); ok && keyIn(k, genericWallet) {
				if w := p.db.FindWallets(s); len(w) > 0 {
					wallet = s
					p.c.Keys = append(p.c.Keys, join(path, k))
				}
			}
		}
		for _, k := range keys {
			field := join(path, k)
			if s, ok := t[k].(string); ok {
				u, ok := ParseURL(s, p.db)
				if ok && (u.Stratum || (keyIn(k, genericURLKeys) && wallet != "")) {
					p.found(field, u, wallet)
				}
				continue
			}
			if err := p.generic(field, t[k], depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range t {
			field := fmt.Sprintf("%s[%d]", path, i)
			if s, ok := e.(string); ok {
				for _, raw := range schemeURLs(s, p.db) {
					if u, ok := ParseURL(raw, p.db); ok {
						p.found(field, u, "")
					}
				}
				continue
			}
			if err := p.generic(field, e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) found(field string, u PoolURL, wallet string) {
	if p.seenURL[u.URL] {
		return
	}
	if p.c.Format == FormatUnknown {
		p.c.Format = FormatGeneric
	}
	pool := Pool{URL: u, User: wallet, Field: field}
	p.c.Pools = append(p.c.Pools, pool)
	p.c.Keys = append(p.c.Keys, field)
	p.addURL(u)
	p.addPoolFacts(pool)
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func keyIn(k string, list []string) bool {
	k = strings.ToLower(k)
	for _, l := range list {
		if k == l {
			return true
		}
	}
	return false
}

func hasOtherXMRigKey(obj map[string]any) bool {
	for _, k := range xmrigTopKeys {
		if _, ok := obj[k]; ok && k != "pools" {
			return true
		}
	}
	return false
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func dedupe(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// lineOf returns the 1-based line of byte offset off in data.
func lineOf(data []byte, off int) int {
	if off < 0 {
		off = 0
	}
	if off > len(data) {
		off = len(data)
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}

type offsetError struct {
	off int
	msg string
}

func (e *offsetError) Error() string { return e.msg }

// cleanJSON blanks out // and /* */ comments (and # lines, which some
// miner forks accept) and commas before a closing bracket, keeping every
// other byte in place so JSON error offsets still point into the file.
func cleanJSON(data []byte) ([]byte, error) {
	out := make([]byte, len(data))
	copy(out, data)
	inStr := false
	for i := 0; i < len(out); i++ {
		c := out[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch {
		case c == '"':
			inStr = true
		case c == '/' && i+1 < len(out) && out[i+1] == '/', c == '#':
			for i < len(out) && out[i] != '\n' {
				out[i] = ' '
				i++
			}
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			j := bytes.Index(out[i+2:], []byte("*/"))
			if j < 0 {
				return nil, &offsetError{off: i, msg: "comment /* is never closed"}
			}
			end := i + 2 + j + 2
			for ; i < end; i++ {
				if out[i] != '\n' {
					out[i] = ' '
				}
			}
			i--
		case c == '}' || c == ']':
			j := i - 1
			for j >= 0 && isSpace(out[j]) {
				j--
			}
			if j >= 0 && out[j] == ',' {
				out[j] = ' '
			}
		}
	}
	return out, nil
}

func stripTrailingComma(b []byte) []byte {
	j := len(b) - 1
	for j >= 0 && isSpace(b[j]) {
		j--
	}
	if j >= 0 && b[j] == ',' {
		b[j] = ' '
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
