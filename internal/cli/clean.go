package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/respond"
	"github.com/minerguard/minerguard/internal/scan"
)

// defaultStateDir holds journals, the vault and evidence.
const defaultStateDir = "/var/lib/minerguard"

// crashEnv makes `clean --apply` and `undo` kill themselves at the given
// step; the fault tests use it to cut a run between any two changes.
const crashEnv = "MINERGUARD_TEST_CRASH_AT"

// target is the host a response command works on.
func target(root string) (host.Host, error) {
	if root != "" && root != "/" {
		m, err := host.Offline(root)
		if err != nil {
			return nil, fmt.Errorf("--root: %w", err)
		}
		return m, nil
	}
	return host.Live()
}

func logger(cmd *cobra.Command, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
}

func readReport(name string) (*findings.Report, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var r findings.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not a minerguard JSON report: %w", name, err)
	}
	if r.Schema != findings.SchemaVersion {
		return nil, fmt.Errorf("%s: report schema %d, this minerguard reads %d", name, r.Schema, findings.SchemaVersion)
	}
	return &r, nil
}

func crashAt() int {
	n, _ := strconv.Atoi(os.Getenv(crashEnv))
	return n
}

func newCleanCmd() *cobra.Command {
	var (
		root, from, planFile, state, minSev, format, output, resume string
		incidents                                                   []string
		apply, yes, allowPkg, restoreOrig, noBlock, verbose         bool
		sample, sweep                                               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Plan, and with --apply carry out, the removal of what a scan found",
		Long: `clean builds a plan from a fresh scan (or --from a JSON report, or --plan a
saved plan) and prints it. Nothing changes without --apply.

Applying freezes every process of an incident before killing any, copies
evidence into the vault, removes only the malicious lines of crontabs and
start-up files, disables units with their links, quarantines files (with
hashes, owner, mode, times, xattrs and flags), locks backdoor accounts and
sinkholes pool domains. Every change is journalled before it happens under
--state-dir; 'minerguard undo' reverts a run byte for byte, and
'clean --resume' finishes a run that was interrupted.

Exit codes: 0 plan shown or applied, 1 some action failed, 2 refused or
could not run (nothing changed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := logger(cmd, verbose)
			h, err := target(root)
			if err != nil {
				return err
			}
			if resume != "" {
				return runApply(ctx, cmd, h, resume, state, sweep, log, "minerguard undo")
			}
			sev, err := findings.ParseSeverity(minSev)
			if err != nil {
				return fmt.Errorf("--min-severity: %w", err)
			}
			opts := respond.Options{MinSeverity: sev, Incidents: incidents, AllowPackageFiles: allowPkg, RestoreOrig: restoreOrig, NoBlock: noBlock}
			var plan *respond.Plan
			var planErr error
			if planFile != "" {
				if plan, err = readPlan(planFile); err != nil {
					return err
				}
				if id := respond.HostIdentity(h); !id.Same(plan.Host) {
					return fmt.Errorf("%w: plan %s is for %s, this is %s", respond.ErrOtherHost, planFile, plan.Host, id)
				}
			} else {
				var rep *findings.Report
				if from != "" {
					if rep, err = readReport(from); err != nil {
						return fmt.Errorf("--from: %w", err)
					}
				} else if rep, err = scan.Run(ctx, h, scan.Options{Sample: sample, Log: log}); err != nil {
					return err
				}
				procs, err := respond.Processes(ctx, h, rep, opts)
				if err != nil {
					return fmt.Errorf("process table: %w", err)
				}
				plan, planErr = respond.Build(ctx, h, rep, procs, opts)
				if planErr != nil && !errors.Is(planErr, respond.ErrPackageFiles) {
					return planErr
				}
			}
			if output != "" {
				if err := writeJSONFile(output, plan); err != nil {
					return fmt.Errorf("--output: %w", err)
				}
			}
			if err := printPlan(cmd.OutOrStdout(), plan, format); err != nil {
				return err
			}
			if planErr != nil {
				return fmt.Errorf("refused: %w", planErr)
			}
			if !apply {
				if len(plan.Actions) > 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "dry run: nothing was changed; run again with --apply to carry out this plan")
				}
				return nil
			}
			if len(plan.Actions) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to do")
				return nil
			}
			if !yes && !confirm(cmd, fmt.Sprintf("Apply %d action(s) to %s? [y/N] ", len(plan.Actions), plan.Host)) {
				return fmt.Errorf("not confirmed (use --yes for unattended runs); nothing was changed")
			}
			if err := respond.Preflight(h, plan, state); err != nil {
				return err
			}
			dir, err := newRun(plan, state)
			if err != nil {
				return err
			}
			return runApply(ctx, cmd, h, dir, state, sweep, log, "minerguard undo")
		},
	}
	f := cmd.Flags()
	f.StringVar(&root, "root", "", "clean an offline root filesystem (mounted disk or extracted tree) instead of this host")
	f.StringVar(&from, "from", "", "plan from this JSON report (minerguard scan --format json) instead of a fresh scan")
	f.StringVar(&planFile, "plan", "", "apply this saved plan (written with --output) instead of planning again")
	f.BoolVar(&apply, "apply", false, "carry out the plan (without it, clean only shows it)")
	f.BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation (unattended use)")
	f.StringVar(&minSev, "min-severity", "high", "act on incidents and findings at or above this severity (medium adds weak signals such as unknown executables in temp dirs)")
	f.StringSliceVar(&incidents, "incident", nil, "act only on these incident ids (INC-001,...)")
	f.BoolVar(&allowPkg, "allow-package-files", false, "allow quarantining files a package owns (otherwise such a plan is refused)")
	f.BoolVar(&restoreOrig, "restore-orig", false, "put back .orig copies of replaced system binaries the malware left")
	f.BoolVar(&noBlock, "no-block", false, "do not sinkhole pool domains in /etc/hosts")
	f.StringVar(&state, "state-dir", defaultStateDir, "where journals, the vault and evidence are kept")
	f.StringVar(&resume, "resume", "", "finish an interrupted run (its directory under --state-dir/runs)")
	f.StringVarP(&format, "format", "f", "table", "plan output: table or json")
	f.StringVarP(&output, "output", "o", "", "also write the plan as JSON to this file (apply it later with --plan)")
	f.DurationVar(&sample, "sample", time.Second, "CPU sample window of the scan")
	f.DurationVar(&sweep, "sweep", 3*time.Second, "after the kill, watch this long for processes that start again")
	f.BoolVarP(&verbose, "verbose", "v", false, "log progress to standard error")
	return cmd
}

// runApply applies (or resumes) the run in dir; undo says how to revert it.
func runApply(ctx context.Context, cmd *cobra.Command, h host.Host, dir, state string, sweep time.Duration, log *slog.Logger, undo string) error {
	dir, err := runDir(dir, state)
	if err != nil {
		return err
	}
	j, err := respond.OpenJournal(dir)
	if err != nil {
		return err
	}
	defer j.Close()
	a := &respond.Applier{Host: h, Journal: j, Log: log, Sweep: sweep, CrashAt: crashAt()}
	results, err := a.Apply(ctx)
	printResults(cmd.OutOrStdout(), results)
	fmt.Fprintf(cmd.OutOrStdout(), "journal: %s\nrevert with: %s %s\n", dir, undo, dir)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Status == "failed" {
			return exitError{code: ExitFindings}
		}
	}
	return nil
}

// newRun makes a run directory under state with the plan's journal.
func newRun(plan *respond.Plan, state string) (string, error) {
	dir, err := respond.NewRunDir(state)
	if err != nil {
		return "", fmt.Errorf("--state-dir: %w", err)
	}
	j, err := respond.CreateJournal(dir, plan)
	if err != nil {
		return "", err
	}
	return dir, j.Close()
}

// undoRun reverts the run named (or the newest under state).
func undoRun(cmd *cobra.Command, h host.Host, name, state string, log *slog.Logger) error {
	dir, err := runDir(name, state)
	if err != nil {
		return err
	}
	j, err := respond.OpenJournal(dir)
	if err != nil {
		return err
	}
	defer j.Close()
	a := &respond.Applier{Host: h, Journal: j, Log: log, CrashAt: crashAt()}
	results, err := a.Undo(cmd.Context())
	printResults(cmd.OutOrStdout(), results)
	return err
}

// runDir accepts a run directory, or a run name under state.
func runDir(dir, state string) (string, error) {
	if dir == "" || dir == "latest" {
		runs, err := respond.Runs(state)
		if err != nil || len(runs) == 0 {
			return "", fmt.Errorf("no runs under %s", state)
		}
		return runs[0], nil
	}
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	alt := state + "/runs/" + dir
	if _, err := os.Stat(alt); err == nil {
		return alt, nil
	}
	return "", fmt.Errorf("%s: no such run", dir)
}

func confirm(cmd *cobra.Command, prompt string) bool {
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !interactive(in) {
		return false
	}
	fmt.Fprint(cmd.ErrOrStderr(), prompt)
	line, _ := bufio.NewReader(in).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes"
}

func readPlan(name string) (*respond.Plan, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var p respond.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: not a minerguard plan: %w", name, err)
	}
	for i, a := range p.Actions {
		if a.Kind == "" {
			return nil, fmt.Errorf("%s: action %d has no kind", name, i)
		}
	}
	return &p, nil
}

func writeJSONFile(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(name, append(b, '\n'), 0o600)
}

func printPlan(w io.Writer, plan *respond.Plan, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(plan)
	case "table":
	default:
		return fmt.Errorf("--format: %q is not table or json", format)
	}
	fmt.Fprintf(w, "Plan for %s: %d action(s)\n", plan.Host, len(plan.Actions))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tACTION\tSEVERITY\tINCIDENT\tWHAT")
	for i, a := range plan.Actions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i+1, a.Kind, a.Severity, cmp.Or(a.Incident, "-"), a.Title)
		for _, p := range a.Procs {
			if a.Kind == respond.KindFreeze {
				fmt.Fprintf(tw, "\t\t\t\t  pid %d %s: %s\n", p.PID, p.Comm, p.Why)
			}
		}
		for _, e := range a.Edits {
			file := a.Path
			if e.File != "" {
				file = e.File
			}
			verb := "-"
			if !e.Delete {
				verb = "~"
			}
			fmt.Fprintf(tw, "\t\t\t\t  %s %s:%d %s\n", verb, file, e.Line, checks.Printable(string(e.Old), 100))
		}
		for _, b := range [][]byte{a.Prepend, a.Append} {
			for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
				if l != "" {
					fmt.Fprintf(tw, "\t\t\t\t  + %s:%s\n", a.Path, checks.Printable(l, 100))
				}
			}
		}
		if len(a.Units) > 0 {
			fmt.Fprintf(tw, "\t\t\t\t  units: %s\n", strings.Join(a.Units, ", "))
		}
		if a.Advice != "" && a.Kind == respond.KindAdvise {
			fmt.Fprintf(tw, "\t\t\t\t  %s\n", checks.Printable(a.Advice, 200))
		}
	}
	tw.Flush()
	for _, r := range plan.Refusals {
		fmt.Fprintf(w, "REFUSED: %s\n", r)
	}
	for _, s := range plan.Skipped {
		fmt.Fprintf(w, "not acted on: %s\n", s)
	}
	return nil
}

func printResults(w io.Writer, rs []respond.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tACTION\tSTATUS\tDETAIL")
	for _, r := range rs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Action+1, r.Kind, r.Status, checks.Printable(r.Detail, 300))
	}
	tw.Flush()
}

func newUndoCmd() *cobra.Command {
	var root, state string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "undo [RUN]",
		Short: "Revert a clean run byte for byte (files, lines, links, accounts, hosts entries)",
		Long: `undo reverts every change a 'clean --apply' run journalled, newest first:
files and links come back with their content, owner, mode, times, xattrs and
immutable/append-only flags; removed lines return; frozen processes resume.
Killed processes are not restarted. RUN is a run directory or its name under
--state-dir/runs (default: the newest run). A journal written on another host
is refused.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := target(root)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			if err := undoRun(cmd, h, name, state, logger(cmd, verbose)); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "undone; killed processes were not restarted")
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "root", "", "the offline root the run cleaned")
	cmd.Flags().StringVar(&state, "state-dir", defaultStateDir, "where journals and the vault are kept")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log progress to standard error")
	return cmd
}

func newVerifyCmd() *cobra.Command {
	var root, state, run, minSev string
	var watch, interval, sample time.Duration
	var verbose bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Re-scan and fail loudly if anything a clean removed comes back",
		Long: `verify compares the host with what a clean run removed: files that exist
again, removed lines that are back, processes running a removed program,
connections to the same pools, and any new incident at or above
--min-severity. With --watch it re-checks every --interval (default 20s,
faster than a one-minute cron) for that long.

Exit codes: 0 nothing came back, 1 something came back, 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := logger(cmd, verbose)
			sev, err := findings.ParseSeverity(minSev)
			if err != nil {
				return fmt.Errorf("--min-severity: %w", err)
			}
			if interval <= 0 {
				return fmt.Errorf("--interval must be positive")
			}
			h, err := target(root)
			if err != nil {
				return err
			}
			plan := &respond.Plan{}
			if dir, err := runDir(run, state); err == nil {
				j, err := respond.OpenJournal(dir)
				if err != nil {
					return err
				}
				plan = j.Plan()
				j.Close()
				fmt.Fprintf(cmd.OutOrStdout(), "verifying run %s\n", dir)
			} else if run != "" {
				return err
			}
			w := cmd.OutOrStdout()
			scanFn := func(ctx context.Context) (*findings.Report, error) {
				return scan.Run(ctx, h, scan.Options{Sample: sample, Log: log})
			}
			back, err := respond.Watch(ctx, h, plan, scanFn, sev, interval, watch, func(round int, rs []respond.Return) {
				if len(rs) == 0 {
					fmt.Fprintf(w, "%s check %d: nothing came back\n", time.Now().Format(time.TimeOnly), round)
				}
			})
			if err != nil {
				return err
			}
			if len(back) > 0 {
				for _, r := range back {
					fmt.Fprintf(w, "CAME BACK %s: %s\n", r.What, checks.Printable(r.Detail, 300))
				}
				return exitError{code: ExitFindings}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&root, "root", "", "verify an offline root instead of this host")
	f.StringVar(&state, "state-dir", defaultStateDir, "where journals are kept")
	f.StringVar(&run, "run", "", "the clean run to verify (default: the newest)")
	f.StringVar(&minSev, "min-severity", "high", "fail on any incident at or above this severity")
	f.DurationVar(&watch, "watch", 0, "keep checking for this long (0: check once)")
	f.DurationVar(&interval, "interval", 20*time.Second, "time between checks with --watch")
	f.DurationVar(&sample, "sample", 0, "CPU sample window of each scan")
	f.BoolVarP(&verbose, "verbose", "v", false, "log progress to standard error")
	return cmd
}
