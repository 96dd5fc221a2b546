package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/harden"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/version"
)

func newHardenCmd() *cobra.Command {
	var (
		root, format string
		only, skip   []string
	)
	var list strings.Builder
	for _, it := range harden.Items() {
		fmt.Fprintf(&list, "  %-24s %s\n", it.ID, it.Title)
	}
	cmd := &cobra.Command{
		Use:   "harden",
		Short: "Audit the host against the measures that keep miners out",
		Long: "harden audits (read-only) each measure and prints its status, the evidence,\n" +
			"why it matters and the exact change. Exit 1 when an item fails.\n\nItems:\n" + list.String(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var h host.Host
			var err error
			if root != "" && root != "/" {
				h, err = host.Offline(root)
			} else {
				h, err = host.Live()
			}
			if err != nil {
				return fmt.Errorf("--root: %w", err)
			}
			known := map[string]bool{}
			for _, it := range harden.Items() {
				known[it.ID] = true
			}
			for _, id := range append(append([]string{}, only...), skip...) {
				if !known[id] {
					return fmt.Errorf("unknown item %q (see minerguard harden --help)", id)
				}
			}
			db, err := intel.Load()
			if err != nil {
				return err
			}
			env := checks.NewEnv(h, db, nil, nil)
			results := harden.Audit(cmd.Context(), env, only, skip)
			if err := writeHarden(cmd.OutOrStdout(), format, h.Root(), results); err != nil {
				return err
			}
			for _, r := range results {
				if r.Status == harden.Fail {
					return exitError{code: ExitFindings}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "root", "", "audit an offline root filesystem instead of this host")
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, json")
	cmd.Flags().StringSliceVar(&only, "only", nil, "audit only these items")
	cmd.Flags().StringSliceVar(&skip, "skip", nil, "leave these items out")
	return cmd
}

func writeHarden(w io.Writer, format, root string, results []harden.Result) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"tool": version.Tool, "version": version.Version, "root": root, "time": time.Now().UTC(), "items": results})
	case "table", "":
		for _, r := range results {
			if _, err := fmt.Fprintf(w, "%-5s %-24s %s\n      %s\n", strings.ToUpper(string(r.Status)), r.ID, r.Title, r.Evidence); err != nil {
				return err
			}
			if r.Status == harden.Fail || r.Status == harden.Warn {
				if r.Change != "" {
					fmt.Fprintf(w, "      change: %s\n", r.Change)
				}
				fmt.Fprintf(w, "      why:    %s\n", r.Why)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown format %q (want table, json)", format)
}
