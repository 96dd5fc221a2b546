// Package harden audits a host against the measures that keep miners out:
// the seeds' checklist (high-risk ports, key-only SSH, 10-character
// passwords, no needless remote access, logs kept six months, antivirus
// current, automatic security updates). Each item says its status, the
// evidence, why it matters and the exact change.
package harden

import (
	"context"
	"sort"

	"github.com/minerguard/minerguard/internal/checks"
)

// Status of one item.
type Status string

// Statuses.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Warn Status = "warn" // could not be decided, or weaker than advised
	NA   Status = "n/a"  // does not apply to this host
)

// Result is one audited item.
type Result struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Status   Status `json:"status"`
	Evidence string `json:"evidence"`
	Path     string `json:"path,omitempty"`
	Why      string `json:"why"`
	Change   string `json:"change,omitempty"`
}

// Item is one measure.
type Item struct {
	ID, Title, Why string
	OS             string // "linux" or "windows"
	// OptIn items are changed by --apply only when named by --only: their
	// change also ends something a host may need.
	OptIn bool
	audit func(ctx context.Context, env *checks.Env) Result
	win   *winItem
}

// linItem is a Linux measure.
type linItem struct {
	ID, Title, Why string
	audit          func(ctx context.Context, env *checks.Env) Result
}

// Items lists every measure of every system, sorted by id.
func Items() []Item {
	var out []Item
	for _, it := range linuxItems {
		out = append(out, Item{ID: it.ID, Title: it.Title, Why: it.Why, OS: "linux", audit: it.audit})
	}
	for i := range windowsItems {
		w := &windowsItems[i]
		out = append(out, Item{ID: w.ID, Title: w.Title, Why: w.Why, OS: "windows", OptIn: w.OptIn, win: w})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// selector keeps the ids named by only (all when empty) less those in skip.
func selector(only, skip []string) func(string) bool {
	return func(id string) bool {
		for _, s := range skip {
			if s == id {
				return false
			}
		}
		if len(only) == 0 {
			return true
		}
		for _, o := range only {
			if o == id {
				return true
			}
		}
		return false
	}
}

// Audit runs the selected Linux items (all when only is empty) on env's host.
func Audit(ctx context.Context, env *checks.Env, only, skip []string) []Result {
	want := selector(only, skip)
	var out []Result
	for _, it := range Items() {
		if it.OS != "linux" || !want(it.ID) {
			continue
		}
		r := it.audit(ctx, env)
		r.ID, r.Title, r.Why = it.ID, it.Title, it.Why
		out = append(out, r)
	}
	return out
}
