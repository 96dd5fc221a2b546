package cli

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/netsense"
	"github.com/minerguard/minerguard/internal/report"
	"github.com/minerguard/minerguard/internal/version"
)

func newNetLiveCmd() *cobra.Command {
	var iface, alerts string
	var o netFlags
	var duration, interval time.Duration
	cmd := &cobra.Command{
		Use:   "live -i IFACE",
		Short: "Watch an interface live for mining protocols, pool lookups and pool TLS names",
		Long: `live captures on an interface through an AF_PACKET socket (pure Go, no
libpcap) with a kernel BPF filter that passes only IPv4/IPv6 TCP and UDP,
and runs the same analysis as 'net pcap'. Each mining session, pool lookup
or pool TLS name is alerted on standard error as soon as it is recognised
(and as EVE lines to --alerts FILE for a SIEM); every --interval a summary
line gives packets, kernel drops and alerts. SIGINT, SIGTERM or --duration
end the capture and write the report. Needs root or CAP_NET_RAW.

Exit codes as for scan: 0 nothing at or above --fail-on, 1 findings, 2 error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, work, err := o.check()
			if err != nil {
				return err
			}
			if interval <= 0 {
				return fmt.Errorf("--interval must be positive")
			}
			db, err := loadIntel(cmd, o.intelDir, false)
			if err != nil {
				return err
			}
			a := netsense.NewAnalyzer(db)
			a.Work = work
			if a.Fingerprints, err = o.fingerprints(); err != nil {
				return err
			}
			c, err := netsense.OpenCapture(iface)
			if err != nil {
				return err
			}
			defer c.Close()
			var alertFile *os.File
			if alerts != "" {
				if alertFile, err = os.OpenFile(alerts, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
					return fmt.Errorf("--alerts: %w", err)
				}
				defer alertFile.Close()
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			started := time.Now()
			stderr := cmd.ErrOrStderr()
			var mu sync.Mutex // the analyzer is fed by the capture loop and read by the ticker
			nAlerts := 0
			a.Alert = func(f findings.Finding) {
				nAlerts++
				fmt.Fprintf(stderr, "%s ALERT %s %s: %s\n", time.Now().Format(time.TimeOnly), f.Severity, f.Rule, checks.Printable(f.Title, 300))
				if alertFile != nil {
					one := &findings.Report{Tool: version.Tool, Version: version.Version, Host: findings.HostInfo{Hostname: iface}, Started: time.Now(), Findings: []findings.Finding{f}}
					report.EVE(alertFile, one)
				}
			}
			fmt.Fprintf(stderr, "capturing on %s (%s); stop with Ctrl-C\n", iface, c.Link)
			done := make(chan error, 1)
			go func() {
				done <- c.Run(ctx, func(data []byte, ts time.Time) {
					mu.Lock()
					a.Packet(data, c.Link, ts)
					mu.Unlock()
				})
			}()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			var runErr error
		loop:
			for {
				select {
				case runErr = <-done:
					break loop
				case <-tick.C:
					st, _ := c.Stats()
					mu.Lock()
					fmt.Fprintf(stderr, "%s %s: %d packets analysed, %d passed the filter, %d dropped by the kernel, %d alerts\n",
						time.Now().Format(time.TimeOnly), iface, a.Packets, st.Packets, st.Drops, nAlerts)
					mu.Unlock()
				}
			}
			if runErr != nil {
				return runErr
			}
			st, _ := c.Stats()
			warnings := append([]string{}, a.Errors...)
			warnings = append(warnings, fmt.Sprintf("capture on %s: %d packets passed the filter, %d dropped by the kernel", iface, st.Packets, st.Drops))
			fmt.Fprintf(stderr, "capture ended: %d packets analysed, %d dropped by the kernel\n", a.Packets, st.Drops)
			return writeNetReport(cmd, a.Findings(), db, started, "live:"+iface, out, findings.CheckRun{}, warnings)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&iface, "interface", "i", "", "interface to capture on (required)")
	cmd.MarkFlagRequired("interface")
	f.DurationVar(&duration, "duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	f.DurationVar(&interval, "interval", 10*time.Second, "time between summary lines")
	f.StringVar(&alerts, "alerts", "", "append each alert as an EVE JSON line to this file")
	o.flags(cmd)
	return cmd
}
