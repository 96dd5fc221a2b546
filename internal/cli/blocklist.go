package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/blocklist"
)

func newBlocklistCmd() *cobra.Command {
	var (
		format, output, stateDir string
		add                      []string
	)
	var help strings.Builder
	for _, f := range blocklist.Formats {
		fmt.Fprintf(&help, "  %-10s %s\n", f.Name, f.Desc)
	}
	cmd := &cobra.Command{
		Use:   "blocklist",
		Short: "Export mining pools as block lists for firewalls and resolvers",
		Long: "blocklist writes the pool domains, networks and mining ports minerguard knows\n" +
			"(embedded intel, the feeds and allowlist kept by `minerguard intel`, and --add\n" +
			"lists) in a format a firewall or resolver loads. The allowlist always wins:\n" +
			"allowed subdomains of listed pools become exceptions in the resolver formats.\n\nFormats:\n" + help.String(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := loadIntel(cmd, stateDir, true)
			if err != nil {
				return err
			}
			l := blocklist.FromIntel(db)
			for _, path := range add {
				f, err := os.Open(path)
				if err != nil {
					return fmt.Errorf("--add: %w", err)
				}
				p, err := blocklist.ParseList(f, path)
				f.Close()
				if err == nil {
					err = p.Sane(path)
				}
				if err != nil {
					return fmt.Errorf("--add: %w", err)
				}
				reportSkipped(cmd.ErrOrStderr(), p.Bad, p.BadLines)
				l.Add(p.Domains, p.Prefixes)
			}
			// Last, so the allowlist wins over --add lists too.
			l.ApplyAllow(db.AllowList())
			var w io.Writer = cmd.OutOrStdout()
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return fmt.Errorf("--output: %w", err)
				}
				defer f.Close()
				w = f
			}
			if err := blocklist.Render(w, l, format); err != nil {
				return err
			}
			if f, ok := w.(*os.File); ok && output != "" {
				return f.Close()
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "nftables", "output format: "+strings.Join(blocklist.FormatNames(), ", "))
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	cmd.Flags().StringVar(&stateDir, "state-dir", defaultIntelDir, "feeds and allowlist kept by `minerguard intel` (missing is fine)")
	cmd.Flags().StringSliceVar(&add, "add", nil, "extra lists to merge (plain domains/addresses/CIDRs, hosts files, adblock ||name^ rules)")
	return cmd
}

// reportSkipped names the skipped lines of a list on stderr.
func reportSkipped(w io.Writer, bad []string, total int) {
	for _, b := range bad {
		fmt.Fprintf(w, "minerguard: skipped %s\n", b)
	}
	if total > len(bad) {
		fmt.Fprintf(w, "minerguard: skipped %d more bad lines\n", total-len(bad))
	}
}
