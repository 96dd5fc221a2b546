// Package overlay keeps intel feeds added with `minerguard intel update` on
// top of the embedded set: one file per source under a state directory,
// written atomically, with first/last-seen dates per entry, protection
// against a feed that suddenly shrinks, and an allowlist that always wins.
package overlay

import (
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

	"github.com/minerguard/minerguard/internal/blocklist"
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
	var f Feed
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", s.feedPath(source), err)
	}
	return &f, nil
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

// Parse reads a feed (plain, hosts or adblock list, or our own Feed JSON)
// into entries of category; bad lines are returned, not fatal.
func Parse(r io.Reader, name, category string, now time.Time) ([]Entry, []string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var f Feed
		if err := json.Unmarshal(t, &f); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		return normalise(f.Entries, now), nil, nil
	}
	ds, ps, bad, err := blocklist.ParseList(bytes.NewReader(b), name)
	if err != nil {
		return nil, bad, err
	}
	var out []Entry
	for _, d := range ds {
		out = append(out, Entry{Value: d, Kind: "domain", Category: category, FirstSeen: now, LastSeen: now})
	}
	for _, p := range ps {
		out = append(out, Entry{Value: p.String(), Kind: "net", Category: category, FirstSeen: now, LastSeen: now})
	}
	return normalise(out, now), bad, nil
}

// normalise validates, dedupes and sorts entries.
func normalise(in []Entry, now time.Time) []Entry {
	seen := map[string]bool{}
	var out []Entry
	for _, e := range in {
		switch e.Kind {
		case "domain":
			d, err := blocklist.NormalizeDomain(e.Value)
			if err != nil {
				continue
			}
			e.Value = d
		case "net":
			p, err := blocklist.ParsePrefix(e.Value)
			if err != nil {
				continue
			}
			e.Value = p.String()
		default:
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
		if !seen[e.Kind+e.Value] {
			seen[e.Kind+e.Value] = true
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Kind+a.Value, b.Kind+b.Value) })
	return out
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
		first := map[string]time.Time{}
		for _, e := range old.Entries {
			first[e.Kind+e.Value] = e.FirstSeen
		}
		for i := range entries {
			if t, ok := first[entries[i].Kind+entries[i].Value]; ok && !t.IsZero() {
				entries[i].FirstSeen = t
			}
		}
	}
	f := &Feed{Source: source, From: from, Updated: now.UTC(), Entries: entries}
	b, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(s.feedPath(source), b); err != nil {
		return nil, err
	}
	return f, nil
}

// writeAtomic writes via a temporary file, fsync and rename, then syncs
// the directory, so a crash leaves either the old or the new file.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (s Store) allowPath() string { return filepath.Join(s.Dir, "allow.txt") }

// Allowed returns the allowlist (domains and networks).
func (s Store) Allowed() ([]string, error) {
	b, err := os.ReadFile(s.allowPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

// Allow adds a domain or network to the allowlist.
func (s Store) Allow(value string) (string, error) {
	v, err := normaliseValue(value)
	if err != nil {
		return "", err
	}
	cur, err := s.Allowed()
	if err != nil {
		return "", err
	}
	if !slices.Contains(cur, v) {
		cur = append(cur, v)
	}
	slices.Sort(cur)
	return v, writeAtomic(s.allowPath(), []byte("# minerguard allowlist: never blocked or reported as pools\n"+strings.Join(cur, "\n")+"\n"))
}

func normaliseValue(v string) (string, error) {
	if p, err := blocklist.ParsePrefix(v); err == nil {
		return p.String(), nil
	}
	d, err := blocklist.NormalizeDomain(v)
	if err != nil {
		return "", fmt.Errorf("%q is neither a domain nor an address/network", v)
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
	d := strings.ToLower(strings.TrimSuffix(value, "."))
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
	d := strings.ToLower(strings.TrimSuffix(value, "."))
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
