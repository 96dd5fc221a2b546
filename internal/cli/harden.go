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
		root, format, script, stateDir string
		only, skip                     []string
		apply, rollback, force         bool
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
			"On Windows, --apply makes the changes (journaling every previous value first\n" +
			"under --state-dir) and --rollback puts them back; opt-in items change only\n" +
			"when named by --only. --script powershell prints the same changes as a\n" +
			"reviewed PowerShell script with its own -Rollback (any system).\n\nItems:\n" + list.String(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			if apply || rollback {
				return fmt.Errorf("--apply and --rollback change Windows hosts only; on Linux make the `change:` lines' changes")
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
			env := checks.NewEnv(h, db, nil, nil)
			results := harden.Audit(cmd.Context(), env, only, skip)
			if err := writeHarden(cmd.OutOrStdout(), format, h.Root(), results, nil); err != nil {
				return err
			}
			return hardenExit(results)
		},
	}
	cmd.Flags().StringVar(&root, "root", "", "audit an offline root filesystem instead of this host")
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, json, ps1 (same as --script powershell)")
	cmd.Flags().StringSliceVar(&only, "only", nil, "audit (or change) only these items")
	cmd.Flags().StringSliceVar(&skip, "skip", nil, "leave these items out")
	cmd.Flags().BoolVar(&apply, "apply", false, "Windows: make the changes of the items that do not pass, journaled for --rollback")
	cmd.Flags().BoolVar(&rollback, "rollback", false, "Windows: restore every value the journal in --state-dir recorded")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "where the journal is kept (default %ProgramData%\\minerguard)")
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
