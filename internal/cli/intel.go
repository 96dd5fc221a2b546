package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/blocklist"
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
	fetch := func(ctx context.Context) ([]overlay.Entry, []string, error) {
		r, err := openFeed(ctx, from)
		if err != nil {
			return nil, nil, err
		}
		defer r.Close()
		return overlay.Parse(r, from, category, time.Now())
	}
	update := &cobra.Command{
		Use:   "update --from FILE|URL",
		Short: "Add or refresh a feed (plain, hosts, adblock lists or minerguard JSON); atomic, refuses a list that shrank by half unless --force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, bad, err := fetch(cmd.Context())
			if err != nil {
				return err
			}
			for _, b := range bad {
				fmt.Fprintf(cmd.ErrOrStderr(), "minerguard: skipped %s\n", b)
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
			entries, _, err := fetch(cmd.Context())
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
		c.Flags().StringVar(&category, "category", "pool", "category of the entries: pool, proxy, browser-miner, dropper")
		c.MarkFlagRequired("from")
	}
	update.Flags().BoolVar(&force, "force", false, "accept a list that shrank by more than half")

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
	allow := &cobra.Command{
		Use:   "allow NAME|CIDR",
		Short: "Add a domain (with its subdomains) or network to the allowlist, which always wins",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := store().Allow(args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "allowlisted %s\n", v)
			return err
		},
	}
	cmd.AddCommand(update, diff, lookup, allow)
	return cmd
}

// openFeed opens a feed file or downloads it (bounded, with a deadline).
func openFeed(ctx context.Context, from string) (io.ReadCloser, error) {
	if !strings.HasPrefix(from, "http://") && !strings.HasPrefix(from, "https://") {
		return os.Open(from)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, from, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("%s: %s", from, resp.Status)
	}
	// Read it whole now: a connection that breaks mid-way is an error
	// before anything is stored, never a truncated feed.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	resp.Body.Close()
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%s: download: %w", from, err)
	}
	if resp.ContentLength > 0 && int64(len(b)) != resp.ContentLength {
		return nil, fmt.Errorf("%s: download cut short (%d of %d bytes)", from, len(b), resp.ContentLength)
	}
	return io.NopCloser(strings.NewReader(string(b))), nil
}

// applyOverlays adds stored feeds to a block list and removes what the
// allowlist covers.
func applyOverlays(l *blocklist.List, stateDir string) error {
	s := overlay.Store{Dir: stateDir}
	feeds, err := s.Feeds()
	if err != nil {
		return err
	}
	for _, f := range feeds {
		var ds []string
		var ps []netip.Prefix
		for _, e := range f.Entries {
			if e.Kind == "domain" {
				ds = append(ds, e.Value)
			} else if p, err := netip.ParsePrefix(e.Value); err == nil {
				ps = append(ps, p)
			}
		}
		l.Add(ds, ps)
	}
	allow, err := s.Allowed()
	if err != nil || len(allow) == 0 {
		return err
	}
	var keep []string
	for _, d := range l.Domains {
		if _, ok := overlay.Allows(allow, d); !ok {
			keep = append(keep, d)
		}
	}
	l.Domains = keep
	filter := func(ps []netip.Prefix) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range ps {
			if _, ok := overlay.Allows(allow, p.String()); !ok {
				out = append(out, p)
			}
		}
		return out
	}
	l.V4, l.V6 = filter(l.V4), filter(l.V6)
	return nil
}
