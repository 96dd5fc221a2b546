package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/harden"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/respond"
	"github.com/minerguard/minerguard/internal/version"
)

func newHardenCmd() *cobra.Command {
	var (
		root, format, state string
		only, skip          []string
		apply, yes          bool
		rollback            bool
	)
	var list strings.Builder
	for _, it := range harden.Items() {
		fmt.Fprintf(&list, "  %-24s %s\n", it.ID, it.Title)
	}
	cmd := &cobra.Command{
		Use:   "harden",
		Short: "Audit the host against the measures that keep miners out",
		Long: "harden audits (read-only) each measure and prints its status, the evidence,\n" +
			"why it matters and the exact change. Exit 1 when an item fails.\n\n" +
			"--apply makes the changes (sshd, pwquality, logrotate, empty passwords, remote-access\n" +
			"services), journalled like clean under --state-dir/harden; --rollback [RUN] restores\n" +
			"every file byte for byte and starts stopped services again.\n\nItems:\n" + list.String(),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && !rollback {
				return fmt.Errorf("unexpected argument %q (a run is named only with --rollback)", args[0])
			}
			if apply && rollback {
				return fmt.Errorf("--apply and --rollback exclude each other")
			}
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
			hstate := filepath.Join(state, "harden")
			if rollback {
				name := ""
				if len(args) == 1 {
					name = args[0]
				}
				return rollbackHarden(cmd, h, name, hstate)
			}
			env := checks.NewEnv(h, db, nil, nil)
			results := harden.Audit(cmd.Context(), env, only, skip)
			if err := writeHarden(cmd.OutOrStdout(), format, h.Root(), results); err != nil {
				return err
			}
			if apply {
				return applyHarden(cmd, h, env, results, hstate, yes)
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
	cmd.Flags().BoolVar(&apply, "apply", false, "make the changes for items that fail (journalled; see --rollback)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&rollback, "rollback", false, "undo a harden --apply run (the newest, or the RUN named)")
	cmd.Flags().StringVar(&state, "state-dir", defaultStateDir, "where journals are kept (harden's under state-dir/harden)")
	return cmd
}

// applyHarden journals and makes the fixes of the items that failed.
func applyHarden(cmd *cobra.Command, h host.Host, env *checks.Env, results []harden.Result, state string, yes bool) error {
	plan := &respond.Plan{Tool: version.Tool + " " + version.Version, Created: time.Now().UTC(), Host: respond.HostIdentity(h), Live: h.Proc() != nil,
		Actions: harden.Fixes(cmd.Context(), env, results)}
	w := cmd.OutOrStdout()
	changes := 0
	for _, a := range plan.Actions {
		if a.Kind != respond.KindAdvise {
			changes++
		}
	}
	fmt.Fprintln(w)
	if err := printPlan(w, plan, "table"); err != nil {
		return err
	}
	if changes == 0 {
		fmt.Fprintln(w, "nothing minerguard can change by itself")
		return nil
	}
	if !yes && !confirm(cmd, fmt.Sprintf("Make %d change(s) on %s? [y/N] ", changes, plan.Host)) {
		return fmt.Errorf("not confirmed (use --yes for unattended runs); nothing was changed")
	}
	if err := respond.Preflight(h, plan, state); err != nil {
		return err
	}
	dir, err := newRun(plan, state)
	if err != nil {
		return err
	}
	return runApply(cmd.Context(), cmd, h, dir, state, 0, logger(cmd, false), "minerguard harden --rollback")
}

// rollbackHarden undoes a harden run.
func rollbackHarden(cmd *cobra.Command, h host.Host, name, state string) error {
	if err := undoRun(cmd, h, name, state, logger(cmd, false)); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), "rolled back")
	return nil
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
