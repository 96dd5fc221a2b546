package cli

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/intel/overlay"
)

const defaultIntelDir = defaultStateDir + "/intel"

func newIntelCmd() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "intel",
		Short: "Manage threat intelligence: feeds on top of the embedded set, lookups, allowlist",
	}
	cmd.PersistentFlags().StringVar(&stateDir, "state-dir", defaultIntelDir, "where feeds and the allowlist are kept")
	store := func() overlay.Store { return overlay.Store{Dir: stateDir} }

	var from, source, category string
	var force bool
	var maxSize int64
	fetch := func(ctx context.Context) ([]overlay.Entry, []string, error) {
		if !slices.Contains(overlay.Categories, category) {
			return nil, nil, fmt.Errorf("--category %q: want one of %s", category, strings.Join(overlay.Categories, ", "))
		}
		return overlay.Fetcher{MaxSize: maxSize}.Fetch(ctx, from, category, time.Now())
	}
	update := &cobra.Command{
		Use:   "update --from FILE|URL",
		Short: "Add or refresh a feed (plain, hosts, adblock lists or minerguard JSON); atomic, refuses a broken list or one that shrank by half unless --force",
		Long: `update reads a feed and stores it as one source under --state-dir. The old
feed stays intact unless the new one passes every check: it must be a list
(not an HTML page or binary data), arrive whole (a download cut short is an
error), stay under --max-size, have at most 10% unreadable lines (each one is
named on stderr), and keep at least half of the previous entries (--force
accepts a shrink). Entries that would block too much (public suffixes such as
co.uk, networks wider than /16 or /32, loopback and other special addresses)
are skipped as bad lines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, bad, err := fetch(cmd.Context())
			reportSkipped(cmd.ErrOrStderr(), bad, len(bad))
			if err != nil {
				return fmt.Errorf("%w (the stored feed is unchanged)", err)
			}
			s := store()
			old, err := s.Load(source)
			if err != nil {
				return err
			}
			f, err := s.Update(source, from, entries, time.Now(), force)
			if err != nil {
				return err
			}
			added, removed := overlay.Diff(old, f.Entries)
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %d entries (%d added, %d removed)\n", source, len(f.Entries), len(added), len(removed))
			return err
		},
	}
	diff := &cobra.Command{
		Use:   "diff --from FILE|URL",
		Short: "Show what an update would add and remove, without changing anything",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, bad, err := fetch(cmd.Context())
			reportSkipped(cmd.ErrOrStderr(), bad, len(bad))
			if err != nil {
				return err
			}
			old, err := store().Load(source)
			if err != nil {
				return err
			}
			added, removed := overlay.Diff(old, entries)
			w := cmd.OutOrStdout()
			for _, a := range added {
				fmt.Fprintf(w, "+ %s\n", a)
			}
			for _, r := range removed {
				fmt.Fprintf(w, "- %s\n", r)
			}
			_, err = fmt.Fprintf(w, "%s: %d added, %d removed\n", source, len(added), len(removed))
			return err
		},
	}
	for _, c := range []*cobra.Command{update, diff} {
		c.Flags().StringVar(&from, "from", "", "feed file or http(s) URL")
		c.Flags().StringVar(&source, "source", "local", "name of the feed (one file per source)")
		c.Flags().StringVar(&category, "category", "pool", "category of the entries: "+strings.Join(overlay.Categories, ", "))
		c.Flags().Int64Var(&maxSize, "max-size", overlay.DefaultMaxSize, "refuse a feed larger than this many bytes")
		c.MarkFlagRequired("from")
	}
	update.Flags().BoolVar(&force, "force", false, "accept a list that shrank by more than half")

	sources := &cobra.Command{
		Use:   "sources",
		Short: "List the intel sources: the embedded set and every feed, with counts per category and last update",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := intel.Load()
			if err != nil {
				return err
			}
			s := store()
			feeds, err := s.Feeds()
			if err != nil {
				return err
			}
			allow, err := s.AllowEntries()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tDOMAINS\tNETWORKS\tCATEGORIES\tUPDATED\tFROM")
			cats := map[string]int{}
			for _, d := range db.Domains {
				cats[d.Category]++
			}
			fmt.Fprintf(tw, "embedded\t%d\t%d\t%s\t%s\tintel %s\n", len(db.Domains), len(db.IPs), categoryCounts(cats), db.Manifest.Updated, db.Manifest.Version)
			for _, f := range feeds {
				cats := map[string]int{}
				nd, nn := 0, 0
				for _, e := range f.Entries {
					cats[e.Category]++
					if e.Kind == "domain" {
						nd++
					} else {
						nn++
					}
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", f.Source, nd, nn, categoryCounts(cats), f.Updated.Format(time.RFC3339), f.From)
			}
			fmt.Fprintf(tw, "allowlist\t%d entries\t\t\t\t%s\n", len(allow), s.Dir+"/allow.txt")
			return tw.Flush()
		},
	}

	lookup := &cobra.Command{
		Use:   "lookup NAME|IP",
		Short: "Explain whether and why a domain or address is listed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := args[0]
			w := cmd.OutOrStdout()
			db, err := intel.Load()
			if err != nil {
				return err
			}
			s := store()
			allow, err := s.Allowed()
			if err != nil {
				return err
			}
			feeds, err := s.Feeds()
			if err != nil {
				return err
			}
			listed := false
			if a, err := netip.ParseAddr(v); err == nil {
				if e, ok := db.IP(a); ok {
					listed = true
					fmt.Fprintf(w, "embedded intel %s: %s (%s, source %s)\n", db.Manifest.Version, e.CIDR, e.Category, e.Source)
				}
			} else if d, ok := db.Domain(v); ok {
				listed = true
				fmt.Fprintf(w, "embedded intel %s: %s (%s, source %s)\n", db.Manifest.Version, d.Domain, d.Category, d.Source)
			}
			for _, m := range overlay.Lookup(feeds, v) {
				listed = true
				fmt.Fprintf(w, "feed %s: %s (%s, first seen %s, last seen %s)\n", m.Source, m.Entry, m.Category, m.FirstSeen.Format(time.DateOnly), m.LastSeen.Format(time.DateOnly))
			}
			if a, ok := overlay.Allows(allow, v); ok {
				fmt.Fprintf(w, "allowlisted by %s: never blocked\n", a)
				return nil
			}
			if !listed {
				if k, ok := db.DomainKeyword(v); ok {
					fmt.Fprintf(w, "not listed; the name contains the mining keyword %q (a weak hint)\n", k)
				} else {
					fmt.Fprintln(w, "not listed")
				}
				return exitError{code: ExitFindings}
			}
			return nil
		},
	}
	var remove bool
	var note string
	allow := &cobra.Command{
		Use:   "allow [--remove] [NAME|CIDR]",
		Short: "Add a domain (with its subdomains) or network to the allowlist, which always wins; --remove takes it off; no argument lists it",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			s := store()
			if len(args) == 0 {
				if remove {
					return fmt.Errorf("--remove: name the domain or network to remove")
				}
				es, err := s.AllowEntries()
				if err != nil {
					return err
				}
				for _, e := range es {
					added := "-"
					if !e.Added.IsZero() {
						added = e.Added.Format(time.DateOnly)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\n", e.Value, added, e.Note)
				}
				return nil
			}
			if remove {
				v, err := s.Unallow(args[0])
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(w, "removed %s from the allowlist\n", v)
				return err
			}
			v, err := s.Allow(args[0], note, time.Now())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "allowlisted %s\n", v)
			return err
		},
	}
	allow.Flags().BoolVar(&remove, "remove", false, "remove NAME|CIDR from the allowlist")
	allow.Flags().StringVar(&note, "note", "", "why it is allowed (kept in allow.txt)")
	cmd.AddCommand(update, diff, sources, lookup, allow)
	return cmd
}

// loadIntel is the intel scan, net and blocklist use: the embedded set
// plus the feeds and allowlist `minerguard intel` keeps in dir. When the
// stored state cannot be read, strict commands fail; the others warn and
// go on with the embedded set (a broken feed file must not stop a scan).
func loadIntel(cmd *cobra.Command, dir string, strict bool) (*intel.DB, error) {
	db, err := overlay.LoadIntel(dir)
	if err == nil {
		return db, nil
	}
	if strict {
		return nil, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "minerguard: warning: %v; using the embedded intel only\n", err)
	return intel.Load()
}

// categoryCounts renders {"pool": 3, "proxy": 1} as "pool 3, proxy 1".
func categoryCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}
