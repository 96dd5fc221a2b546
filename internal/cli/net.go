package cli

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/netsense"
	"github.com/minerguard/minerguard/internal/report"
	"github.com/minerguard/minerguard/internal/version"
)

func newNetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "net",
		Short: "Find mining hosts from network traffic",
	}
	cmd.AddCommand(newNetPcapCmd())
	return cmd
}

func newNetPcapCmd() *cobra.Command {
	var format, output, failOn string
	cmd := &cobra.Command{
		Use:   "pcap FILE...",
		Short: "Analyse pcap/pcapng captures for mining protocols, pool DNS lookups and pool TLS names",
		Long: `pcap reads capture files (pcap or pcapng; Ethernet, Linux cooked, raw IP; IPv4
and IPv6), reassembles TCP streams and recognises mining by parsing the
protocol: Monero/XMRig, Stratum v1, EthereumStratum, ETHPROXY and getwork,
also inside WebSocket; pool domains in DNS queries and TLS SNI. One
incident per source host.

Exit codes as for scan: 0 nothing at or above --fail-on, 1 findings, 2 error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			threshold, err := findings.ParseSeverity(failOn)
			if err != nil {
				return fmt.Errorf("--fail-on: %w", err)
			}
			db, err := intel.Load()
			if err != nil {
				return err
			}
			started := time.Now()
			a := netsense.NewAnalyzer(db)
			for _, name := range files {
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				err = a.ReadCapture(cmd.Context(), f, name)
				f.Close()
				if err != nil {
					return err
				}
			}
			fs := a.Findings()
			rep := &findings.Report{
				Tool: version.Tool, Version: version.Version, Schema: findings.SchemaVersion,
				Host:     findings.HostInfo{Hostname: "capture", OS: runtime.GOOS, Arch: runtime.GOARCH, Root: strings.Join(files, " ")},
				Started:  started.UTC(),
				Options:  findings.Options{IntelVer: db.Manifest.Version},
				Findings: fs, Incidents: netsense.Incidents(fs),
				Checks:   []findings.CheckRun{{ID: "net.pcap", Status: "ok", Findings: len(fs)}},
				Warnings: append([]string{}, a.Errors...),
			}
			if rep.Findings == nil {
				rep.Findings = []findings.Finding{}
			}
			if rep.Incidents == nil {
				rep.Incidents = []findings.Incident{}
			}
			rep.Finished = time.Now().UTC()
			rep.DurationMS = time.Since(started).Milliseconds()
			rep.Summarise()
			var w io.Writer = cmd.OutOrStdout()
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return fmt.Errorf("--output: %w", err)
				}
				defer f.Close()
				w = f
			}
			if err := report.Write(w, rep, format, false); err != nil {
				return err
			}
			if rep.CountAtLeast(threshold) > 0 {
				return exitError{code: ExitFindings}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: "+strings.Join(report.Formats, ", "))
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the report to this file")
	cmd.Flags().StringVar(&failOn, "fail-on", "medium", "exit 1 at or above this severity")
	return cmd
}
