package cli

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	// The zone database is compiled in: a static binary on a minimal host
	// may have no /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/spf13/cobra"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/geoip"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/netsense"
	"github.com/minerguard/minerguard/internal/report"
	"github.com/minerguard/minerguard/internal/trace"
	"github.com/minerguard/minerguard/internal/version"
)

func newNetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "net",
		Short: "Find mining hosts from network traffic and resolver logs",
	}
	cmd.AddCommand(
		newNetReadCmd("pcap FILE...", "Analyse pcap/pcapng captures for mining protocols, pool DNS lookups and pool TLS names",
			`pcap reads capture files (pcap or pcapng; Ethernet, Linux cooked v1 and v2, raw IP; IPv4
and IPv6; inside VLAN, PPPoE, MPLS, GRE, ERSPAN and VXLAN), reassembles TCP streams and recognises mining by parsing the
protocol: Monero/XMRig, Stratum v1, EthereumStratum, ETHPROXY and getwork,
also inside WebSocket; pool domains in DNS queries and TLS SNI. One
incident per source host.

Exit codes as for scan: 0 nothing at or above --fail-on, 1 findings, 2 error.`,
			func(cmd *cobra.Command, a *netsense.Analyzer, f io.Reader, name string) error {
				return a.ReadCapture(cmd.Context(), f, name)
			}),
		newNetReadCmd("logs FILE...", "Find hosts that look up mining pools in resolver query logs",
			`logs reads DNS query logs — dnsmasq (log-queries), BIND query log, Unbound,
Windows DNS debug log, Zeek dns.log (TSV or JSON), Suricata EVE — and reports
every client that asked for a pool or browser-miner domain (suffix match),
with how often. Lines of other formats are counted and skipped; gzipped
(rotated) logs are read as they are.

Exit codes as for scan: 0 nothing at or above --fail-on, 1 findings, 2 error.`,
			func(cmd *cobra.Command, a *netsense.Analyzer, f io.Reader, name string) error {
				matched, skipped, err := a.ReadDNSLog(cmd.Context(), f, name)
				if err == nil && matched == 0 && skipped > 0 {
					a.Errors = append(a.Errors, fmt.Sprintf("%s: no line in a known query-log format (%d lines skipped)", name, skipped))
				}
				return err
			}),
		newNetLiveCmd(),
		newNetFlowsCmd(),
		newNetCollectCmd(),
	)
	return cmd
}

// newNetReadCmd builds a command that feeds files to an analyzer with read
// and reports like scan does.
func newNetReadCmd(use, short, long string, read func(*cobra.Command, *netsense.Analyzer, io.Reader, string) error) *cobra.Command {
	var o netFlags
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			out, work, err := o.check()
			if err != nil {
				return err
			}
			db, err := loadIntel(cmd, o.intelDir, false)
			if err != nil {
				return err
			}
			started := time.Now()
			a := netsense.NewAnalyzer(db)
			a.Work = work
			if a.Fingerprints, err = o.fingerprints(); err != nil {
				return err
			}
			var names []string
			for _, name := range files {
				f, name, err := openInput(cmd, name)
				if err != nil {
					return err
				}
				names = append(names, name)
				err = read(cmd, a, f, name)
				f.Close()
				if err != nil && cmd.Context().Err() != nil {
					return reportInterrupted(name, func(warning string) error {
						return writeNetReport(cmd, a.Findings(), db, started, strings.Join(names, " "), out, findings.CheckRun{}, append(a.Errors, warning))
					})
				}
				if err != nil {
					return err
				}
			}
			return writeNetReport(cmd, a.Findings(), db, started, strings.Join(names, " "), out, findings.CheckRun{}, a.Errors)
		},
	}
	o.flags(cmd)
	return cmd
}

// reportInterrupted ends a run interrupted (SIGINT, SIGTERM) while name
// was read: write reports what was read, with a warning that says where it
// stopped, and the run fails.
func reportInterrupted(name string, write func(warning string) error) error {
	w := fmt.Sprintf("interrupted while reading %s: the rest of it and of the inputs after it was not read", name)
	if err := write(w); err != nil && !errors.As(err, new(exitError)) {
		return err
	}
	return errors.New("interrupted: the report covers only what was read")
}

// openInput opens a file to read, or standard input for "-" (a pipe from
// tcpdump -w - or zcat), named "stdin" in the report.
func openInput(cmd *cobra.Command, name string) (io.ReadCloser, string, error) {
	if name == "-" {
		return io.NopCloser(cmd.InOrStdin()), "stdin", nil
	}
	f, err := os.Open(name)
	return f, name, err
}

// netOutput is how a net command reports.
type netOutput struct {
	format, output string
	failOn         findings.Severity
	trace          traceFiles
	geoip, home    string
}

// traceFiles are what tracing a source address to its owner reads.
type traceFiles struct{ leases, inventory, nat []string }

// writeNetReport traces, groups and writes findings like scan does, and
// sets the exit code. run is the report's check entry (ID defaults to
// "net." and the command name).
func writeNetReport(cmd *cobra.Command, fs []findings.Finding, db *intel.DB, started time.Time, source string, o netOutput, run findings.CheckRun, warnings []string) error {
	// fs is the analyzer's fresh slice and is annotated in place: no copy
	// (a report can hold many thousand findings).
	if o.geoip != "" {
		if err := markForeign(fs, o.geoip, o.home); err != nil {
			return err
		}
	}
	if len(o.trace.leases)+len(o.trace.inventory)+len(o.trace.nat) > 0 {
		tw, err := traceOwners(fs, o.trace)
		if err != nil {
			return err
		}
		warnings = append(warnings, tw...)
	}
	rep := &findings.Report{
		Tool: version.Tool, Version: version.Version, Schema: findings.SchemaVersion,
		Host:      findings.HostInfo{Hostname: findings.NetworkHost, OS: runtime.GOOS, Arch: runtime.GOARCH, Root: source},
		Started:   started.UTC(),
		Options:   findings.Options{IntelVer: db.Manifest.Version},
		Findings:  fs,
		Incidents: []findings.Incident{},
		Checks:    []findings.CheckRun{run},
		Warnings:  append([]string{}, warnings...),
	}
	if in := netsense.Incidents(fs); in != nil {
		rep.Incidents = in
	}
	if run.ID == "" {
		rep.Checks[0].ID = "net." + cmd.Name()
	}
	if run.Status == "" {
		rep.Checks[0].Status = "ok"
	}
	rep.Checks[0].Findings = len(fs)
	rep.Finished = time.Now().UTC()
	rep.DurationMS = time.Since(started).Milliseconds()
	rep.Summarise()
	var w io.Writer = cmd.OutOrStdout()
	if o.output != "" {
		f, err := os.Create(o.output)
		if err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		defer f.Close()
		w = f
	}
	if err := report.Write(w, rep, o.format, false); err != nil {
		return err
	}
	if rep.CountAtLeast(o.failOn) > 0 {
		return exitError{code: ExitFindings}
	}
	return nil
}

// markForeign adds each destination's country and marks those outside
// home; a weak (low) signal to a foreign address is raised to medium: the
// seeds single out foreign destinations as a mining sign on campus networks.
func markForeign(fs []findings.Finding, dbPath, home string) error {
	db, err := geoip.Open(dbPath)
	if err != nil {
		return fmt.Errorf("--geoip: %w", err)
	}
	defer db.Close()
	for i := range fs {
		ev := &fs[i].Evidence
		addr, err := netip.ParseAddr(ev.DstIP)
		if err != nil {
			continue
		}
		c, foreign, err := db.Foreign(addr, home)
		if err != nil || c == "" {
			continue
		}
		if ev.Details == nil {
			ev.Details = map[string]string{}
		}
		ev.Details["dst_country"] = c
		if !foreign {
			continue
		}
		ev.Details["foreign"] = "true"
		fs[i].Title += " (abroad: " + c + ")"
		if fs[i].Severity == findings.Low {
			fs[i].Severity = findings.Medium
		}
	}
	return nil
}

// traceOwners adds the machine and the people behind each finding's
// source address, at the time it was seen.
func traceOwners(fs []findings.Finding, files traceFiles) (warnings []string, err error) {
	var tr trace.Tracer
	natLog := func(r io.Reader, name string) error {
		_, err := tr.AddNATLog(r, name, time.Now().Year())
		return err
	}
	for _, set := range []struct {
		names []string
		add   func(io.Reader, string) error
	}{{files.leases, tr.AddLeases}, {files.inventory, tr.AddInventory}, {files.nat, natLog}} {
		for _, name := range set.names {
			f, err := os.Open(name)
			if err != nil {
				return nil, err
			}
			err = set.add(f, name)
			f.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	for i := range fs {
		ev := &fs[i].Evidence
		addr, err := netip.ParseAddr(ev.SrcIP)
		if err != nil {
			continue
		}
		var at time.Time
		if ev.FirstSeen != nil {
			at = *ev.FirstSeen
		}
		// A public source behind NAT: the translation log names the
		// inside address that owned this port then.
		if ev.SrcPort > 0 {
			remote := netip.AddrPort{}
			if d, err := netip.ParseAddr(ev.DstIP); err == nil && ev.DstPort > 0 {
				remote = netip.AddrPortFrom(d, uint16(ev.DstPort))
			}
			if x, ok := tr.Untranslate(netip.AddrPortFrom(addr, uint16(ev.SrcPort)), remote, at); ok {
				if ev.Details == nil {
					ev.Details = map[string]string{}
				}
				ev.Details["nat_inside"] = x.Inside.String()
				ev.Details["nat_source"] = x.Source
				fs[i].Title += fmt.Sprintf(" [behind NAT: %s]", x.Inside)
				addr = x.Inside.Addr()
			}
		}
		o, ok := tr.Resolve(addr, at)
		if !ok {
			continue
		}
		if ev.Details == nil {
			ev.Details = map[string]string{}
		}
		for k, v := range map[string]string{"host": o.Hostname, "mac": o.MAC, "owner": o.Owner, "department": o.Department, "location": o.Location, "contact": o.Contact} {
			if v != "" {
				ev.Details[k] = v
			}
		}
		ev.Details["traced_from"] = strings.Join(o.Sources, " ")
		if o.Hostname != "" {
			fs[i].Title += fmt.Sprintf(" [%s", o.Hostname)
			if o.Owner != "" {
				fs[i].Title += ", " + o.Owner
			}
			if o.Location != "" {
				fs[i].Title += ", " + o.Location
			}
			fs[i].Title += "]"
		}
	}
	return tr.Warnings, nil
}

func parseWorkHours(hours, tz string, weekends bool) (netsense.WorkHours, error) {
	var w netsense.WorkHours
	a, b, ok := strings.Cut(hours, "-")
	start, err1 := strconv.Atoi(a)
	end, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || start < 0 || end > 24 || start >= end {
		return w, fmt.Errorf("--work-hours %q: want HH-HH, e.g. 08-20", hours)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return w, fmt.Errorf("--tz: %w", err)
	}
	return netsense.WorkHours{Start: start, End: end, Weekdays: !weekends, Loc: loc}, nil
}
