package overlay

import (
	"fmt"
	"time"

	"github.com/minerguard/minerguard/internal/intel"
)

// Intel returns base with the stored feeds added and the allowlist
// applied (it always wins). A store with no directory yet adds nothing.
func (s Store) Intel(base *intel.DB) (*intel.DB, error) {
	feeds, err := s.Feeds()
	if err != nil {
		return nil, fmt.Errorf("intel feeds in %s: %w", s.Dir, err)
	}
	allow, err := s.Allowed()
	if err != nil {
		return nil, fmt.Errorf("intel allowlist: %w", err)
	}
	if len(feeds) == 0 && len(allow) == 0 {
		return base, nil
	}
	var o intel.Overlay
	o.Allow = allow
	for _, f := range feeds {
		o.Sources = append(o.Sources, intel.Source{ID: f.Source, Name: "feed " + f.Source, URL: f.From, Retrieved: f.Updated.Format(time.DateOnly)})
		for _, e := range f.Entries {
			switch e.Kind {
			case "domain":
				o.Domains = append(o.Domains, intel.Domain{Domain: e.Value, Category: e.Category, Source: f.Source})
			case "net":
				o.IPs = append(o.IPs, intel.IPEntry{CIDR: e.Value, Category: e.Category, Source: f.Source})
			}
		}
	}
	db, err := base.WithOverlay(o)
	if err != nil {
		return nil, fmt.Errorf("intel state %s: %w", s.Dir, err)
	}
	return db, nil
}

// LoadIntel is the intel every command uses: the embedded set plus the
// feeds and allowlist kept in dir by `minerguard intel` (none when dir is
// empty or does not exist yet).
func LoadIntel(dir string) (*intel.DB, error) {
	db, err := intel.Load()
	if err != nil || dir == "" {
		return db, err
	}
	return Store{Dir: dir}.Intel(db)
}
