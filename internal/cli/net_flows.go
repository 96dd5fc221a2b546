package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/intel/overlay"
	"github.com/minerguard/minerguard/internal/netsense"
	"github.com/minerguard/minerguard/internal/netsense/flow"
	"github.com/minerguard/minerguard/internal/report"
)

// netFlags are the report, working-hours and tracing flags every net
// command shares.
type netFlags struct {
	format, output, failOn, workHours, tz string
	weekends                              bool
	leases, inventory, nat                []string
	geoip, home, intelDir, tlsFP          string
}

func (o *netFlags) flags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "format", "f", "table", "output format: "+strings.Join(report.Formats, ", "))
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write the report to this file")
	cmd.Flags().StringVar(&o.failOn, "fail-on", "medium", "exit 1 at or above this severity")
	cmd.Flags().StringVar(&o.workHours, "work-hours", "08-20", "working hours HH-HH; mining traffic mostly outside them is reported")
	cmd.Flags().StringVar(&o.tz, "tz", "Local", "time zone of the working hours (e.g. Asia/Shanghai)")
	cmd.Flags().BoolVar(&o.weekends, "weekends", false, "count Saturday and Sunday as working days")
	cmd.Flags().StringSliceVar(&o.leases, "leases", nil, "DHCP lease files (dnsmasq, ISC dhcpd, Kea CSV) to trace source addresses to machines")
	cmd.Flags().StringSliceVar(&o.inventory, "inventory", nil, "inventory CSV (ip or cidr, hostname, owner, department, location, contact)")
	cmd.Flags().StringVar(&o.intelDir, "intel-dir", defaultIntelDir, "feeds and allowlist kept by `minerguard intel` (missing is fine; the allowlist wins)")
	cmd.Flags().StringVar(&o.tlsFP, "tls-fingerprints", "", "list of miners' TLS client fingerprints (JA4 or JA3 MD5, then [,name], per line): a ClientHello that matches is reported whatever its SNI")
	cmd.Flags().StringVar(&o.tlsFP, "ja3", "", "same as --tls-fingerprints")
	cmd.Flags().StringVar(&o.geoip, "geoip", "", "MaxMind-format country database (GeoLite2-Country.mmdb): destinations abroad are marked, weak signals to them raised")
	cmd.Flags().StringVar(&o.home, "home", "", "ISO country code of the organisation (e.g. CN) for --geoip")
	cmd.Flags().StringSliceVar(&o.nat, "nat", nil, "NAT logs (conntrack -E -o timestamp, Cisco ASA 305011/305012, FortiGate traffic) to trace public source addresses to inside ones")
}

// fingerprints reads --tls-fingerprints (nil without it).
func (o *netFlags) fingerprints() (map[string]string, error) {
	if o.tlsFP == "" {
		return nil, nil
	}
	f, err := os.Open(o.tlsFP)
	if err != nil {
		return nil, fmt.Errorf("--tls-fingerprints: %w", err)
	}
	defer f.Close()
	return netsense.ParseFingerprintList(f, o.tlsFP)
}

// check validates the flags before any work is done.
func (o *netFlags) check() (netOutput, netsense.WorkHours, error) {
	threshold, err := findings.ParseSeverity(o.failOn)
	if err != nil {
		return netOutput{}, netsense.WorkHours{}, fmt.Errorf("--fail-on: %w", err)
	}
	if (o.geoip == "") != (o.home == "") {
		return netOutput{}, netsense.WorkHours{}, fmt.Errorf("--geoip and --home go together")
	}
	if o.home != "" && (len(o.home) != 2 || strings.ToUpper(o.home) != o.home && strings.ToLower(o.home) != o.home) {
		return netOutput{}, netsense.WorkHours{}, fmt.Errorf("--home %q: want a two-letter ISO country code", o.home)
	}
	wh, err := parseWorkHours(o.workHours, o.tz, o.weekends)
	return netOutput{o.format, o.output, threshold, traceFiles{o.leases, o.inventory, o.nat}, o.geoip, strings.ToUpper(o.home)}, wh, err
}

// flowSetup checks the flags and builds the intel and flow analyzer the
// flow commands share.
func (o *netFlags) flowSetup(cmd *cobra.Command) (netOutput, *intel.DB, *flow.Analyzer, error) {
	out, wh, err := o.check()
	if err != nil {
		return out, nil, nil, err
	}
	db, err := loadIntel(cmd, o.intelDir, false)
	if err != nil {
		return out, nil, nil, err
	}
	a, err := flowAnalyzer(db, o.intelDir)
	if err != nil {
		return out, nil, nil, err
	}
	a.Work = wh
	return out, db, a, nil
}

// flowAnalyzer builds the flow analyzer: embedded intel plus the pool
// networks of stored feeds the allowlist does not cover.
func flowAnalyzer(db *intel.DB, stateDir string) (*flow.Analyzer, error) {
	a, err := flow.NewAnalyzer(db)
	if err != nil {
		return nil, err
	}
	s := overlay.Store{Dir: stateDir}
	feeds, err := s.Feeds()
	if err != nil {
		return nil, fmt.Errorf("--intel-dir: %w", err)
	}
	allow, err := s.Allowed()
	if err != nil {
		return nil, fmt.Errorf("--intel-dir: %w", err)
	}
	for _, f := range feeds {
		for _, e := range f.Entries {
			p, err := netip.ParsePrefix(e.Value)
			if e.Kind != "net" || err != nil {
				continue
			}
			if _, ok := overlay.Allows(allow, e.Value); !ok {
				a.AddPoolNets(flow.PoolNet{Prefix: p, Source: f.Source, Category: e.Category})
			}
		}
	}
	return a, nil
}

func newNetFlowsCmd() *cobra.Command {
	var o netFlags
	cmd := &cobra.Command{
		Use:   "flows FILE...",
		Short: "Find mining hosts in flow records: NetFlow v5/v9, IPFIX, Zeek conn.log, Suricata EVE",
		Long: `flows reads flow records and reports internal hosts that talk to mining pool
addresses (embedded intel and feeds from 'minerguard intel update'), to
mining ports, or hold long, quiet connections; on such destinations also
periodic reconnections and activity outside working hours. Findings are
grouped into one incident per source host, the most suspicious first.

Files are recognised by content: datagram files written by 'net collect
--write', bare NetFlow v5 or IPFIX message streams, a single NetFlow v9
datagram, Zeek conn.log (TSV or JSON lines) and Suricata EVE (flow events;
other events are skipped). Damaged datagrams and lines are reported as
warnings naming file and offset or line.

Exit codes as for scan: 0 nothing at or above --fail-on, 1 findings, 2 error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			out, db, a, err := o.flowSetup(cmd)
			if err != nil {
				return err
			}
			started := time.Now()
			dec := flow.NewDecoder(flow.Limits{})
			var warnings []string
			var names []string
			for _, name := range files {
				f, name, err := openInput(cmd, name)
				if err != nil {
					return err
				}
				names = append(names, name)
				st, err := flow.ReadFile(cmd.Context(), f, name, dec, a.Add)
				f.Close()
				if err != nil && cmd.Context().Err() != nil {
					return reportInterrupted(name, func(warning string) error {
						return writeNetReport(cmd, a.Findings(), db, started, strings.Join(names, " "), out, findings.CheckRun{ID: "net.flows"}, append(append(warnings, st.Errors...), warning))
					})
				}
				if err != nil {
					return err
				}
				warnings = append(warnings, st.Errors...)
				if st.Format == "" {
					warnings = append(warnings, fmt.Sprintf("%s: no flow records (%d lines skipped)", name, st.Skipped))
				}
			}
			warnings = append(warnings, decoderWarnings(dec.Stats, a)...)
			return writeNetReport(cmd, a.Findings(), db, started, strings.Join(names, " "), out, findings.CheckRun{ID: "net.flows"}, warnings)
		},
	}
	o.flags(cmd)
	return cmd
}

func decoderWarnings(st flow.Stats, a *flow.Analyzer) []string {
	var w []string
	if st.Malformed > 0 {
		w = append(w, fmt.Sprintf("%d of %d flow datagrams were malformed", st.Malformed, st.Packets))
	}
	if lost := st.TemplateMisses - st.Resolved; lost > 0 {
		w = append(w, fmt.Sprintf("%d data sets arrived before their template and %d of them were never decoded", st.TemplateMisses, lost))
	}
	if a.Dropped > 0 {
		w = append(w, fmt.Sprintf("%d records dropped: conversation limit reached", a.Dropped))
	}
	return w
}

func newNetCollectCmd() *cobra.Command {
	var o netFlags
	var listen, write string
	var duration, every time.Duration
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Receive NetFlow v5/v9 and IPFIX over UDP and report mining hosts",
		Long: `collect listens for NetFlow v5, v9 and IPFIX datagrams, judges the records
like 'net flows' and writes the report when --duration has passed or on
SIGINT/SIGTERM. Every --every it logs a summary (datagrams, records,
malformed datagrams, template misses, top hosts) to standard error.
--write keeps every datagram in a file 'net flows' reads again.

Exit codes as for scan: 0 nothing at or above --fail-on, 1 findings, 2 error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, db, a, err := o.flowSetup(cmd)
			if err != nil {
				return err
			}
			addr, err := net.ResolveUDPAddr("udp", listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			conn, err := net.ListenUDP("udp", addr)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			defer conn.Close()
			// Exporters send in bursts when their flow cache expires; a
			// larger socket buffer loses fewer (best effort, the kernel caps it).
			_ = conn.SetReadBuffer(4 << 20)
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			c := &flow.Collector{Conn: conn, Dec: flow.NewDecoder(flow.Limits{}), OnRecord: a.Add, Every: every, Log: log}
			if write != "" {
				f, err := os.Create(write)
				if err != nil {
					return fmt.Errorf("--write: %w", err)
				}
				defer f.Close()
				if c.Write, err = flow.NewDatagramWriter(f); err != nil {
					return fmt.Errorf("--write: %w", err)
				}
			}
			c.Summary = func() { logSummary(log, c.Dec.Stats, a) }
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			started := time.Now()
			log.Info("collecting flows", "listen", conn.LocalAddr().String())
			if err := c.Run(ctx); err != nil {
				return err
			}
			logSummary(log, c.Dec.Stats, a)
			st := c.Dec.Stats
			run := findings.CheckRun{ID: "net.collect", DurationMS: time.Since(started).Milliseconds(),
				Reason: fmt.Sprintf("%d datagrams, %d records, %d malformed, %d template misses (%d resolved)", st.Packets, st.Records, st.Malformed, st.TemplateMisses, st.Resolved)}
			return writeNetReport(cmd, a.Findings(), db, started, "udp://"+conn.LocalAddr().String(), out, run, decoderWarnings(st, a))
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:2055", "UDP address to receive NetFlow/IPFIX on")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	cmd.Flags().DurationVar(&every, "every", time.Minute, "log a summary this often (0: never)")
	cmd.Flags().StringVar(&write, "write", "", "also keep every datagram in this file (read it again with 'net flows')")
	return cmd
}

// logSummary logs the counters and the top hosts so far.
func logSummary(log *slog.Logger, st flow.Stats, a *flow.Analyzer) {
	var top []string
	for i, h := range flow.Rank(a.Findings()) {
		if i == 5 {
			break
		}
		top = append(top, fmt.Sprintf("%s(%s: %s)", h.SrcIP, h.Severity, strings.Join(h.Rules, ",")))
	}
	log.Info("flow summary", "datagrams", st.Packets, "records", st.Records, "malformed", st.Malformed,
		"template_misses", st.TemplateMisses, "resolved", st.Resolved, "dropped_sets", st.Dropped,
		"conversations", a.Conversations(), "top_hosts", strings.Join(top, " "))
}
