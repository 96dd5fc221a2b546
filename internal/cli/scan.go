package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/report"
	"github.com/minerguard/minerguard/internal/scan"
)

func newScanCmd() *cobra.Command {
	var (
		format, output, failOn, root string
		only, skip, paths            []string
		sample                       time.Duration
		noColor, verbose, resolve    bool
		full                         bool
		intelDir                     string
	)
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Inspect this host (or an offline root) for cryptocurrency miners",
		Long: `scan reads /proc and the filesystem directly (never ps, netstat or ls) and
reports miners with one verdict per process.

Exit codes: 0 nothing at or above --fail-on, 1 findings at or above
--fail-on, 2 the scan could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			threshold, err := findings.ParseSeverity(failOn)
			if err != nil {
				return fmt.Errorf("--fail-on: %w", err)
			}
			if sample < 0 {
				return fmt.Errorf("--sample: must not be negative")
			}
			var h host.Host
			if root != "" && root != "/" {
				m, err := host.Offline(root)
				if err != nil {
					return fmt.Errorf("--root: %w", err)
				}
				h = m
			} else {
				m, err := host.Live()
				if err != nil {
					return err
				}
				h = m
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			db, err := loadIntel(cmd, intelDir, false)
			if err != nil {
				return err
			}
			rep, err := scan.Run(cmd.Context(), h, scan.Options{Sample: sample, Only: only, Skip: skip, Log: log, Resolve: resolve, Paths: paths, Full: full, Intel: db})
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			color := !noColor && format == "table" && isTerminal(w)
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return fmt.Errorf("--output: %w", err)
				}
				defer f.Close()
				w, color = f, false
			}
			if err := report.Write(w, rep, format, color); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			if f, ok := w.(*os.File); ok && output != "" {
				// Make the report durable before the exit code says it exists;
				// devices and pipes (/dev/null, /dev/stdout) cannot be synced.
				if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
					if err := f.Sync(); err != nil {
						return fmt.Errorf("--output: %w", err)
					}
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("--output: %w", err)
				}
			}
			if rep.CountAtLeast(threshold) > 0 {
				return exitError{code: ExitFindings}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&format, "format", "f", "table", "output format: "+strings.Join(report.Formats, ", "))
	f.StringVarP(&output, "output", "o", "", "write the report to this file instead of standard output")
	f.StringVar(&failOn, "fail-on", "medium", "exit 1 when a finding or verdict is at or above this severity (info, low, medium, high, critical, none)")
	f.DurationVar(&sample, "sample", time.Second, "CPU sample window (0 skips CPU sampling)")
	f.StringVar(&root, "root", "", "scan an offline root filesystem (mounted disk or extracted tree) instead of this host")
	f.StringSliceVar(&paths, "paths", nil, "extra directories (host paths) the file checks search for miner binaries and configs")
	f.BoolVar(&full, "full", false, "search the whole filesystem for miner binaries and configs (slow)")
	f.StringSliceVar(&only, "checks", nil, "run only these checks (comma separated; see `minerguard checks`)")
	f.StringSliceVar(&skip, "skip", nil, "do not run these checks")
	f.BoolVar(&resolve, "resolve", false, "resolve pool names seen in command lines and configs through DNS (off: a lookup of a pool name can trip the network's own alarms; /etc/hosts is always read)")
	f.StringVar(&intelDir, "intel-dir", defaultIntelDir, "feeds and allowlist kept by `minerguard intel`, merged into the embedded intel (missing is fine; the allowlist wins)")
	f.BoolVar(&noColor, "no-color", false, "no colours in the table")
	f.BoolVarP(&verbose, "verbose", "v", false, "log progress to standard error")
	return cmd
}

func newChecksCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "checks",
		Short: "List the checks scan can run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			for _, c := range checks.All() {
				in := c.Info()
				def := "default"
				if !in.Default {
					def = "opt-in"
				}
				var needs []string
				if in.Needs&checks.NeedsProc != 0 {
					needs = append(needs, "live")
				}
				if in.Needs&checks.NeedsCPU != 0 {
					needs = append(needs, "cpu-sample")
				}
				if _, err := fmt.Fprintf(w, "%-28s %-8s %-16s %s\n", in.ID, def, strings.Join(needs, ","), in.Title); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" && filepath.Base(os.Getenv("TERM")) != "dumb"
}
