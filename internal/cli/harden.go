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
		root, format, script, stateDir string
		only, skip                     []string
		apply, rollback, force, yes    bool
	)
	var list strings.Builder
	for _, it := range harden.Items() {
		opt := ""
		if it.OptIn {
			opt = " (opt-in)"
		}
		fmt.Fprintf(&list, "  %-30s %-7s %s%s\n", it.ID, it.OS, it.Title, opt)
	}
	cmd := &cobra.Command{
		Use:   "harden",
		Short: "Audit the host against the measures that keep miners out",
		Long: "harden audits (read-only) each measure and prints its status, the evidence,\n" +
			"why it matters and the exact change. Exit 1 when an item fails.\n\n" +
			"--apply makes the changes of the items that do not pass and --rollback puts\n" +
			"them back. On Linux the changes (sshd, pwquality, logrotate, empty passwords,\n" +
			"remote-access services, nftables table inet minerguard_harden) are journalled\n" +
			"like clean under --state-dir/harden and rolled back byte for byte (--rollback\n" +
			"RUN names a run; default the newest). On Windows every previous value is\n" +
			"journalled first under --state-dir; opt-in items change only when named by\n" +
			"--only. --script powershell prints the Windows changes as a reviewed\n" +
			"PowerShell script with its own -Rollback (any system).\n\nItems:\n" + list.String(),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && !rollback {
				return fmt.Errorf("unexpected argument %q (a run is named only with --rollback)", args[0])
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
			if apply && rollback {
				return fmt.Errorf("--apply and --rollback exclude each other")
			}
			db, err := intel.Load()
			if err != nil {
				return err
			}
			if format == "ps1" {
				script = "powershell"
			}
			if script != "" {
				if script != "powershell" {
					return fmt.Errorf("--script %q: only powershell is supported", script)
				}
				if apply || rollback {
					return fmt.Errorf("--script prints a script; it does not combine with --apply or --rollback")
				}
				return harden.WritePowerShell(cmd.OutOrStdout(), db, version.Version, only, skip)
			}
			if root == "" || root == "/" {
				if w, err := harden.LocalWindows(); err == nil {
					if stateDir == "" {
						stateDir = harden.DefaultStateDir()
					}
					return hardenWindows(cmd, w, db, format, stateDir, only, skip, apply, rollback, force)
				}
			}
			var h host.Host
			if root != "" && root != "/" {
				h, err = host.Offline(root)
			} else {
				h, err = host.Live()
			}
			if err != nil {
				return fmt.Errorf("--root: %w", err)
			}
			if stateDir == "" {
				stateDir = defaultStateDir
			}
			hstate := filepath.Join(stateDir, "harden")
			if rollback {
				name := ""
				if len(args) == 1 {
					name = args[0]
				}
				return rollbackHarden(cmd, h, name, hstate)
			}
			env := checks.NewEnv(h, db, nil, nil)
			results := harden.Audit(cmd.Context(), env, only, skip)
			if err := writeHarden(cmd.OutOrStdout(), format, h.Root(), results, nil); err != nil {
				return err
			}
			if apply {
				return applyHarden(cmd, h, env, results, hstate, yes)
			}
			return hardenExit(results)
		},
	}
	cmd.Flags().StringVar(&root, "root", "", "audit an offline root filesystem instead of this host")
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, json, ps1 (same as --script powershell)")
	cmd.Flags().StringSliceVar(&only, "only", nil, "audit (or change) only these items")
	cmd.Flags().StringSliceVar(&skip, "skip", nil, "leave these items out")
	cmd.Flags().BoolVar(&apply, "apply", false, "make the changes of the items that do not pass, journalled for --rollback")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Linux: do not ask for confirmation")
	cmd.Flags().BoolVar(&rollback, "rollback", false, "restore what the newest (or the named) --apply changed")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "where journals are kept (default /var/lib/minerguard, harden's under harden/; Windows %ProgramData%\\minerguard)")
	cmd.Flags().BoolVar(&force, "force", false, "allow turning Remote Desktop off from a Remote Desktop session")
	cmd.Flags().StringVar(&script, "script", "", "print the Windows changes as a script instead: powershell")
	return cmd
}

func hardenExit(results []harden.Result) error {
	for _, r := range results {
		if r.Status == harden.Fail {
			return exitError{code: ExitFindings}
		}
	}
	return nil
}

func hardenWindows(cmd *cobra.Command, w *harden.Windows, db *intel.DB, format, stateDir string, only, skip []string, apply, rollback, force bool) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	if rollback {
		steps, warnings, err := harden.RollbackWindows(ctx, w, stateDir, time.Now())
		for _, s := range steps {
			fmt.Fprintf(out, "RESTORED  %-30s %s\n", s.Item, s.What())
		}
		for _, m := range warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "minerguard: warning: %s\n", m)
		}
		return err
	}
	var outcomes []harden.Outcome
	var applyErr error
	if apply {
		j, err := harden.OpenJournal(stateDir)
		if err != nil {
			return err
		}
		outcomes, applyErr = harden.ApplyWindows(ctx, w, db, time.Now(), j, harden.ApplyOptions{Only: only, Skip: skip, Force: force})
		if err := j.Close(); err != nil && applyErr == nil {
			applyErr = err
		}
	}
	results, err := harden.AuditWindows(ctx, w, db, time.Now(), only, skip)
	if err != nil {
		return err
	}
	if err := writeHarden(out, format, "", results, outcomes); err != nil {
		return err
	}
	if applyErr != nil {
		return applyErr
	}
	return hardenExit(results)
}

func writeHarden(w io.Writer, format, root string, results []harden.Result, applied []harden.Outcome) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		doc := map[string]any{"tool": version.Tool, "version": version.Version, "root": root, "time": time.Now().UTC(), "items": results}
		if applied != nil {
			doc["applied"] = applied
		}
		return enc.Encode(doc)
	case "table", "":
		for _, o := range applied {
			fmt.Fprintf(w, "%-9s %-30s %s\n", strings.ToUpper(o.Status), o.ID, o.Detail)
		}
		if len(applied) > 0 {
			fmt.Fprintln(w)
		}
		for _, r := range results {
			if _, err := fmt.Fprintf(w, "%-5s %-28s %s\n      %s\n", strings.ToUpper(string(r.Status)), r.ID, r.Title, r.Evidence); err != nil {
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
	return fmt.Errorf("unknown format %q (want table, json, ps1)", format)
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
