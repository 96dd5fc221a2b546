// Package report renders a findings.Report as JSON or as a table for
// terminals, without knowing how the findings were made.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
)

// Formats lists the supported output formats.
var Formats = []string{"table", "json", "eve"}

// Write renders rep in format to w. color enables ANSI colours in tables.
func Write(w io.Writer, rep *findings.Report, format string, color bool) error {
	switch format {
	case "json":
		return JSON(w, rep)
	case "table", "":
		return Table(w, rep, color)
	case "eve":
		return EVE(w, rep)
	default:
		return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats, ", "))
	}
}

// JSON writes the report as indented JSON.
func JSON(w io.Writer, rep *findings.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

var sevColor = map[findings.Severity]string{
	findings.Info:     "\x1b[2m",
	findings.Low:      "\x1b[36m",
	findings.Medium:   "\x1b[33m",
	findings.High:     "\x1b[31m",
	findings.Critical: "\x1b[1;97;41m",
}

const reset = "\x1b[0m"

// Table writes a readable summary: the verdicts first, then every finding.
func Table(w io.Writer, rep *findings.Report, color bool) error {
	ew := &errWriter{w: w}
	sev := func(s findings.Severity) string {
		label := fmt.Sprintf("%-8s", strings.ToUpper(s.String()))
		if color {
			return sevColor[s] + label + reset
		}
		return label
	}
	bold := func(s string) string {
		if color {
			return "\x1b[1m" + s + reset
		}
		return s
	}
	switch {
	case rep.Host.Hostname == findings.NetworkHost:
		ew.printf("%s %s — network traffic in %s, %d ms\n", rep.Tool, rep.Version, rep.Host.Root, rep.DurationMS)
	case rep.Host.Processes == 0:
		// A disk image or a host whose /proc could not be read.
		ew.printf("%s %s — host %s (root %s), no processes, %d ms\n", rep.Tool, rep.Version, rep.Host.Hostname, rep.Host.Root, rep.DurationMS)
	default:
		ew.printf("%s %s — host %s (root %s), %d processes, %d ms\n", rep.Tool, rep.Version, rep.Host.Hostname, rep.Host.Root, rep.Host.Processes, rep.DurationMS)
	}
	if len(rep.Incidents) == 0 {
		ew.printf("\n%s\n", bold("No sign of mining found."))
	} else {
		ew.printf("\n%s\n", bold(fmt.Sprintf("VERDICTS (%d)", len(rep.Incidents))))
		for _, in := range rep.Incidents {
			ew.printf("%s %s  %s  confidence %.0f%%\n", sev(in.Severity), in.ID, in.Title, in.Confidence*100)
			if in.Severity < findings.Medium {
				// A hint, not a verdict: one line each keeps real ones visible.
				continue
			}
			if in.Exe != "" {
				ew.printf("         exe:     %s\n", in.Exe)
			}
			if in.Cmdline != "" {
				ew.printf("         cmdline: %s\n", truncate(in.Cmdline, 160))
			}
			if in.PID == 0 && len(in.Paths) > 0 {
				ew.printf("         files:   %s\n", truncate(strings.Join(in.Paths, " "), 160))
			}
			if len(in.Remotes) > 0 {
				ew.printf("         remote:  %s\n", strings.Join(in.Remotes, ", "))
			}
			if len(in.Tree) > 1 {
				ew.printf("         tree:    %s\n", joinInts(in.Tree, 12))
			}
			for _, s := range in.Summary {
				ew.printf("         - %s\n", s)
			}
		}
	}
	if len(rep.Findings) > 0 {
		ew.printf("\n%s\n", bold(fmt.Sprintf("FINDINGS (%d), by incident", len(rep.Findings))))
		// A story's findings together, in verdict order; the rest after.
		order := map[string]int{}
		for i, in := range rep.Incidents {
			order[in.ID] = i
		}
		fs := append([]findings.Finding(nil), rep.Findings...)
		sort.SliceStable(fs, func(i, j int) bool {
			oi, ok1 := order[fs[i].Incident]
			oj, ok2 := order[fs[j].Incident]
			if ok1 != ok2 {
				return ok1
			}
			return ok1 && oi < oj
		})
		for _, f := range fs {
			where := ""
			switch {
			case f.Evidence.PID > 0:
				where = fmt.Sprintf("pid %d", f.Evidence.PID)
			case f.Evidence.Path != "":
				where = f.Evidence.Path
			case f.Evidence.SrcIP != "":
				where = f.Evidence.SrcIP
			}
			inc := f.Incident
			if inc == "" {
				inc = "-"
			}
			ew.printf("%s %-7s %-30s %-14s %s\n", sev(f.Severity), inc, f.Rule, where, f.Title)
		}
	}
	// Checks that did not run, one line per reason: an offline root skips
	// a dozen live checks for the same reason.
	byReason := map[string][]string{}
	for _, c := range rep.Checks {
		if c.Status != "ok" {
			k := c.Status + ": " + c.Reason
			byReason[k] = append(byReason[k], c.ID)
		}
	}
	var skipped []string
	for reason, ids := range byReason {
		sort.Strings(ids)
		skipped = append(skipped, fmt.Sprintf("%s (%s)", strings.Join(ids, ", "), reason))
	}
	sort.Strings(skipped)
	if len(skipped) > 0 || len(rep.Warnings) > 0 {
		ew.printf("\n%s\n", bold("NOTES"))
		for _, s := range skipped {
			ew.printf("  - not run: %s\n", s)
		}
		for i, s := range rep.Warnings {
			if i == 20 {
				ew.printf("  - … %d more warnings (see --format json)\n", len(rep.Warnings)-20)
				break
			}
			ew.printf("  - %s\n", s)
		}
	}
	var counts []string
	for _, s := range []findings.Severity{findings.Critical, findings.High, findings.Medium, findings.Low, findings.Info} {
		if n := rep.Summary.Findings[s.String()]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(counts) == 0 {
		counts = []string{"none"}
	}
	ew.printf("\nfindings: %s\n", strings.Join(counts, ", "))
	return ew.err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// joinInts prints at most max numbers, then how many were left out.
func joinInts(v []int, max int) string {
	var s []string
	for i, n := range v {
		if i == max {
			s = append(s, fmt.Sprintf("… (%d more)", len(v)-max))
			break
		}
		s = append(s, fmt.Sprint(n))
	}
	return strings.Join(s, " ")
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

// eveEvent is one finding as a Suricata-EVE-style line, so SIEMs that
// already ingest EVE alerts take minerguard's without a new parser.
type eveEvent struct {
	Timestamp string            `json:"timestamp"`
	EventType string            `json:"event_type"`
	Host      string            `json:"host,omitempty"`
	SrcIP     string            `json:"src_ip,omitempty"`
	SrcPort   int               `json:"src_port,omitempty"`
	DestIP    string            `json:"dest_ip,omitempty"`
	DestPort  int               `json:"dest_port,omitempty"`
	Alert     eveAlert          `json:"alert"`
	Finding   findings.Finding  `json:"minerguard"`
	Tool      map[string]string `json:"tool"`
}

type eveAlert struct {
	Action    string `json:"action"`
	Signature string `json:"signature"`
	Category  string `json:"category"`
	Severity  int    `json:"severity"` // 1 high .. 3 low, as Suricata
}

// EVE writes one JSON object per finding per line.
func EVE(w io.Writer, rep *findings.Report) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, f := range rep.Findings {
		ts := rep.Started
		if f.Evidence.FirstSeen != nil {
			ts = *f.Evidence.FirstSeen
		}
		sev := 3
		switch {
		case f.Severity >= findings.High:
			sev = 1
		case f.Severity == findings.Medium:
			sev = 2
		}
		e := eveEvent{
			Timestamp: ts.UTC().Format("2006-01-02T15:04:05.000000-0700"),
			EventType: "alert", Host: rep.Host.Hostname,
			SrcIP: f.Evidence.SrcIP, SrcPort: f.Evidence.SrcPort, DestIP: f.Evidence.DstIP, DestPort: f.Evidence.DstPort,
			Alert:   eveAlert{Action: "allowed", Signature: f.Title, Category: f.Rule, Severity: sev},
			Finding: f,
			Tool:    map[string]string{"name": rep.Tool, "version": rep.Version},
		}
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}
