// Package overlay keeps intel feeds added with `minerguard intel update` on
// top of the embedded set: one file per source under a state directory,
// written atomically, with first/last-seen dates per entry, protection
// against a feed that suddenly shrinks, and an allowlist that always wins.
package overlay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/atomicfile"
	"github.com/minerguard/minerguard/internal/blocklist"
	"github.com/minerguard/minerguard/internal/intel"
)

// Entry is one indicator from a feed.
type Entry struct {
	Value     string    `json:"value"` // normalised domain, address or CIDR
	Kind      string    `json:"kind"`  // domain or net
	Category  string    `json:"category"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Feed is one source's current list.
type Feed struct {
	Source  string    `json:"source"`
	From    string    `json:"from"`
	Updated time.Time `json:"updated"`
	Entries []Entry   `json:"entries"`
}

// Store is a state directory of feeds and the allowlist.
type Store struct{ Dir string }

// ErrShrunk refuses a feed that lost too much of its previous size.
var ErrShrunk = errors.New("feed shrank suspiciously")

// MinKeep is the share of the previous entries a new version must keep.
const MinKeep = 0.5

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func (s Store) feedPath(source string) string { return filepath.Join(s.Dir, "feeds", source+".json") }

// Load returns a source's feed (nil when there is none).
func (s Store) Load(source string) (*Feed, error) {
	b, err := os.ReadFile(s.feedPath(source))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f, err := decodeFeed(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.feedPath(source), err)
	}
	return f, nil
}

// Feeds returns every stored feed, by source name.
func (s Store) Feeds() ([]*Feed, error) {
	es, err := os.ReadDir(filepath.Join(s.Dir, "feeds"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Feed
	for _, e := range es {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok && sourceName.MatchString(name) {
			f, err := s.Load(name)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// DefaultMaxSize caps a feed's size: the largest real pool lists are a
// few MiB, so anything near this is a wrong URL or a hostile server.
const DefaultMaxSize = 64 << 20

// ErrTooBig refuses a feed over the size cap.
var ErrTooBig = errors.New("feed exceeds the size cap")

// capReader fails once more than n bytes have been read, so a huge or
// endless download is refused while streaming instead of buffered.
type capReader struct {
	r      io.Reader
	n, max int64
	name   string
}

func (c *capReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.n > c.max {
		return n, fmt.Errorf("%s: %w of %d bytes", c.name, ErrTooBig, c.max)
	}
	return n, err
}

// Parse reads a feed (plain, hosts or adblock list, or our own Feed JSON)
// into entries of category, streaming at most maxSize bytes (0 means
// DefaultMaxSize). A few bad lines are skipped and returned; a list that
// is binary, a web page, cut short, over the cap, or more than
// blocklist.MaxBadShare unreadable is an error naming name and the line.
func Parse(r io.Reader, name, category string, now time.Time, maxSize int64) ([]Entry, []string, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	now = now.UTC().Truncate(time.Second) // dates, not nanoseconds, in every entry
	br := bufio.NewReaderSize(&capReader{r: r, max: maxSize, name: name}, 64<<10)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, nil, fmt.Errorf("%s: read failed at the start: %w", name, err)
	}
	if t := bytes.TrimLeft(head, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return parseJSON(br, name, now)
	}
	p, err := blocklist.ParseList(br, name)
	bad := p.Bad
	if more := p.BadLines - len(p.Bad); more > 0 {
		bad = append(bad, fmt.Sprintf("%s: %d more bad lines", name, more))
	}
	if p.Ignored > 0 {
		bad = append(bad, fmt.Sprintf("%s: %d adblock rules that block less than a whole domain (URL paths, patterns, page elements, exceptions)", name, p.Ignored))
	}
	if err != nil {
		return nil, bad, err
	}
	if err := p.Sane(name); err != nil {
		return nil, bad, err
	}
	out := make([]Entry, 0, len(p.Domains)+len(p.Prefixes))
	for _, d := range p.Domains {
		out = append(out, Entry{Value: d, Kind: "domain", Category: category, FirstSeen: now, LastSeen: now})
	}
	for _, x := range p.Prefixes {
		out = append(out, Entry{Value: x.String(), Kind: "net", Category: category, FirstSeen: now, LastSeen: now})
	}
	out, _ = normalise(out, now, true)
	return out, bad, nil
}

// Categories are the kinds of entry a feed may carry.
var Categories = []string{"pool", "proxy", "browser-miner", "dropper"}

func parseJSON(r io.Reader, name string, now time.Time) ([]Entry, []string, error) {
	var f Feed
	dec := json.NewDecoder(r)
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("%s: minerguard feed JSON at byte %d: %w", name, dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("%s: minerguard feed JSON: data after the feed object at byte %d", name, dec.InputOffset())
	}
	out, bad := normalise(f.Entries, now, false)
	n := len(bad)
	for i := range bad {
		bad[i] = name + ": " + bad[i]
	}
	if n > 20 { // name the first ones, count the rest
		bad = append(bad[:20], fmt.Sprintf("%s: %d more invalid entries", name, n-20))
	}
	if n > 0 && float64(n) > blocklist.MaxBadShare*float64(len(f.Entries)) {
		return nil, bad, fmt.Errorf("%s: %d of %d entries are invalid (more than %d%%): first: %s", name, n, len(f.Entries), int(blocklist.MaxBadShare*100), bad[0])
	}
	return out, bad, nil
}

// normalise validates (unless ParseList already did), dedupes and sorts
// entries, returning the reasons for those it drops ("entries[i]: ...").
func normalise(in []Entry, now time.Time, validated bool) ([]Entry, []string) {
	seen := make(map[[2]string]bool, len(in))
	var bad []string
	out := make([]Entry, 0, len(in))
	for i, e := range in {
		var err error
		switch {
		case validated:
		case e.Kind == "domain":
			var d string
			if d, err = blocklist.NormalizeDomain(e.Value); err == nil {
				if err = blocklist.Blockable(d); err == nil {
					e.Value = d
				}
			}
		case e.Kind == "net":
			var p netip.Prefix
			if p, err = blocklist.ParsePrefix(e.Value); err == nil {
				if err = blocklist.BlockableNet(p); err == nil {
					e.Value = p.String()
				}
			}
		default:
			err = fmt.Errorf("kind %q (want domain or net)", blocklist.Short(e.Kind))
		}
		if err == nil && e.Category != "" && !slices.Contains(Categories, e.Category) {
			err = fmt.Errorf("category %q (want one of %s)", blocklist.Short(e.Category), strings.Join(Categories, ", "))
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("entries[%d]: %v", i, err))
			continue
		}
		if e.FirstSeen.IsZero() {
			e.FirstSeen = now
		}
		if e.LastSeen.IsZero() {
			e.LastSeen = now
		}
		if e.Category == "" {
			e.Category = "pool"
		}
		if k := [2]string{e.Kind, e.Value}; !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out, bad
}

// Diff lists what replacing old with new adds and removes.
func Diff(old *Feed, entries []Entry) (added, removed []string) {
	before := map[string]bool{}
	if old != nil {
		for _, e := range old.Entries {
			before[e.Value] = true
		}
	}
	after := map[string]bool{}
	for _, e := range entries {
		after[e.Value] = true
		if !before[e.Value] {
			added = append(added, e.Value)
		}
	}
	if old != nil {
		for _, e := range old.Entries {
			if !after[e.Value] {
				removed = append(removed, e.Value)
			}
		}
	}
	return added, removed
}

// Update replaces a source's feed. It refuses a version that keeps less
// than MinKeep of the previous entries unless force is set (a truncated
// download must not silently unblock pools), keeps first-seen dates, and
// writes atomically: the old feed stays intact on any failure.
func (s Store) Update(source, from string, entries []Entry, now time.Time, force bool) (*Feed, error) {
	if !sourceName.MatchString(source) {
		return nil, fmt.Errorf("source %q: use lower-case letters, digits, '.', '_' and '-'", source)
	}
	old, err := s.Load(source)
	if err != nil {
		return nil, err
	}
	if old != nil && !force && len(old.Entries) > 0 && float64(len(entries)) < MinKeep*float64(len(old.Entries)) {
		return nil, fmt.Errorf("%w: %s had %d entries, the new list has %d (use --force if that is right)", ErrShrunk, source, len(old.Entries), len(entries))
	}
	if len(entries) == 0 && !force {
		return nil, fmt.Errorf("%w: %s: the new list is empty", ErrShrunk, source)
	}
	if old != nil {
		first := make(map[[2]string]time.Time, len(old.Entries))
		for _, e := range old.Entries {
			first[[2]string{e.Kind, e.Value}] = e.FirstSeen
		}
		for i := range entries {
			if t, ok := first[[2]string{entries[i].Kind, entries[i].Value}]; ok && !t.IsZero() {
				entries[i].FirstSeen = t
			}
		}
	}
	f := &Feed{Source: source, From: from, Updated: now.UTC(), Entries: entries}
	// One entry per line: compact for million-entry feeds, still readable
	// and diffable.
	b, err := marshalFeed(f)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(s.feedPath(source), b, 0o644); err != nil {
		return nil, err
	}
	return f, nil
}

func marshalFeed(f *Feed) ([]byte, error) {
	head, err := json.Marshal(Feed{Source: f.Source, From: f.From, Updated: f.Updated})
	if err != nil {
		return nil, err
	}
	// head ends in "null}" (no entries): splice the entries in.
	head = bytes.TrimSuffix(head, []byte("null}"))
	var b bytes.Buffer
	b.Grow(len(f.Entries) * 120)
	b.Write(head)
	b.WriteString("[\n")
	for i, e := range f.Entries {
		eb, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		b.Write(eb)
		if i < len(f.Entries)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]}\n")
	return b.Bytes(), nil
}

func (s Store) allowPath() string { return filepath.Join(s.Dir, "allow.txt") }

// AllowEntry is one allowlist line: "VALUE  # added DATE: NOTE".
type AllowEntry struct {
	Value string
	Added time.Time
	Note  string
}

// AllowEntries reads the allowlist; a line that is neither a domain nor
// an address/network is an error naming the file and line (a hand edit
// gone wrong must not silently stop protecting a host).
func (s Store) AllowEntries() ([]AllowEntry, error) {
	b, err := os.ReadFile(s.allowPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseAllow(b, s.allowPath())
}

// ParseAllow parses allowlist text (see AllowEntry).
func ParseAllow(b []byte, name string) ([]AllowEntry, error) {
	var out []AllowEntry
	for i, l := range strings.Split(string(b), "\n") {
		v, comment, _ := strings.Cut(l, "#")
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		n, err := normaliseValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		e := AllowEntry{Value: n}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(comment), "added "); ok {
			date, note, _ := strings.Cut(rest, ":")
			if t, err := time.Parse(time.DateOnly, strings.TrimSpace(date)); err == nil {
				e.Added, e.Note = t, strings.TrimSpace(note)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// Allowed returns the allowlist values (domains and networks).
func (s Store) Allowed() ([]string, error) {
	es, err := s.AllowEntries()
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Value
	}
	return out, err
}

func (s Store) writeAllow(es []AllowEntry) error {
	slices.SortFunc(es, func(a, b AllowEntry) int { return strings.Compare(a.Value, b.Value) })
	var b strings.Builder
	b.WriteString("# minerguard allowlist: never blocked or reported as pools (minerguard intel allow)\n")
	for _, e := range es {
		b.WriteString(e.Value)
		if !e.Added.IsZero() {
			fmt.Fprintf(&b, "  # added %s", e.Added.Format(time.DateOnly))
			if e.Note != "" {
				b.WriteString(": " + strings.NewReplacer("\n", " ", "\r", " ", "#", " ").Replace(e.Note))
			}
		}
		b.WriteString("\n")
	}
	return atomicfile.Write(s.allowPath(), []byte(b.String()), 0o644)
}

// Allow adds a domain or network to the allowlist, with the date and an
// optional note saying why.
func (s Store) Allow(value, note string, now time.Time) (string, error) {
	v, err := normaliseValue(value)
	if err != nil {
		return "", err
	}
	cur, err := s.AllowEntries()
	if err != nil {
		return "", err
	}
	if slices.ContainsFunc(cur, func(e AllowEntry) bool { return e.Value == v }) {
		return v, nil
	}
	return v, s.writeAllow(append(cur, AllowEntry{Value: v, Added: now.UTC(), Note: note}))
}

// ErrNotAllowed is returned when removing a value the allowlist lacks.
var ErrNotAllowed = errors.New("not on the allowlist")

// Unallow removes a domain or network from the allowlist (exactly as
// listed: removing a parent does not remove its listed subdomains).
func (s Store) Unallow(value string) (string, error) {
	v, err := normaliseValue(value)
	if err != nil {
		return "", err
	}
	cur, err := s.AllowEntries()
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(cur, func(e AllowEntry) bool { return e.Value == v })
	if i < 0 {
		return v, fmt.Errorf("%s: %w", v, ErrNotAllowed)
	}
	return v, s.writeAllow(slices.Delete(cur, i, i+1))
}

func normaliseValue(v string) (string, error) {
	if p, err := blocklist.ParsePrefix(v); err == nil {
		return p.String(), nil
	}
	d, err := blocklist.NormalizeDomain(v)
	if err != nil {
		return "", fmt.Errorf("%q is neither a domain nor an address/network", blocklist.Short(v))
	}
	return d, nil
}

// Allows reports whether the allowlist covers value (a domain and its
// subdomains, or an address inside a network).
func Allows(allow []string, value string) (string, bool) {
	if a, err := netip.ParseAddr(value); err == nil {
		for _, x := range allow {
			if p, err := netip.ParsePrefix(x); err == nil && p.Contains(a.Unmap()) {
				return x, true
			}
		}
		return "", false
	}
	if p, err := netip.ParsePrefix(value); err == nil {
		for _, x := range allow {
			if q, err := netip.ParsePrefix(x); err == nil && q.Contains(p.Addr()) && q.Bits() <= p.Bits() {
				return x, true
			}
		}
		return "", false
	}
	d := intel.NormalizeDomain(value)
	for _, x := range allow {
		if d == x || strings.HasSuffix(d, "."+x) {
			return x, true
		}
	}
	return "", false
}

// Match is why a value is on a list.
type Match struct {
	Source, Entry, Category string
	FirstSeen, LastSeen     time.Time
}

// Lookup finds the feed entries that cover value (suffix semantics for
// domains, containment for addresses).
func Lookup(feeds []*Feed, value string) []Match {
	var out []Match
	addr, aerr := netip.ParseAddr(value)
	isAddr := aerr == nil
	d := intel.NormalizeDomain(value)
	for _, f := range feeds {
		for _, e := range f.Entries {
			hit := false
			switch {
			case isAddr && e.Kind == "net":
				p, err := netip.ParsePrefix(e.Value)
				hit = err == nil && p.Contains(addr.Unmap())
			case !isAddr && e.Kind == "domain":
				hit = d == e.Value || strings.HasSuffix(d, "."+e.Value)
			}
			if hit {
				out = append(out, Match{Source: f.Source, Entry: e.Value, Category: e.Category, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen})
			}
		}
	}
	return out
}
