package netsense

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

// WorkHours is when people work; activity outside it with no one at the
// keyboard is what an unattended miner looks like (the seeds: off-hours
// and regularly spaced access).
type WorkHours struct {
	Start, End int // hours, [Start, End)
	Weekdays   bool
	Loc        *time.Location
}

// DefaultWorkHours is 08:00-20:00 Monday to Friday in the local zone.
var DefaultWorkHours = WorkHours{Start: 8, End: 20, Weekdays: true, Loc: time.Local}

// Within reports whether t falls inside the working hours.
func (w WorkHours) Within(t time.Time) bool {
	loc := w.Loc
	if loc == nil {
		loc = time.Local
	}
	t = t.In(loc)
	if w.Weekdays && (t.Weekday() == time.Saturday || t.Weekday() == time.Sunday) {
		return false
	}
	return t.Hour() >= w.Start && t.Hour() < w.End
}

// maxTimes bounds the timestamps kept per client and domain.
const maxTimes = 10000

// timingFindings judges the timing of each client's lookups of a flagged
// domain: mostly outside working hours, or at a fixed period.
func timingFindings(dns map[string]*findings.Finding, times map[string][]time.Time, wh WorkHours) []findings.Finding {
	var out []findings.Finding
	keys := make([]string, 0, len(times))
	for k := range times {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ts, base := times[k], dns[k]
		if base == nil || len(ts) < 3 {
			continue
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		off := 0
		for _, t := range ts {
			if !wh.Within(t) {
				off++
			}
		}
		ev := base.Evidence
		ev.Details = map[string]string{"lookups": fmt.Sprint(len(ts))}
		first, last := ts[0], ts[len(ts)-1]
		ev.FirstSeen, ev.LastSeen = &first, &last
		if off*2 >= len(ts) {
			e := ev
			e.Details = map[string]string{"lookups": fmt.Sprint(len(ts)), "off_hours": fmt.Sprint(off)}
			out = append(out, findings.Finding{
				Rule: "net.off_hours", Check: base.Check, Severity: findings.Medium, Signal: findings.SignalNetwork,
				Title:       fmt.Sprintf("%s looks up %s mostly outside working hours (%d of %d)", ev.SrcIP, ev.Domain, off, len(ts)),
				Description: fmt.Sprintf("%d of %d lookups fall outside %02d:00-%02d:00%s: activity with nobody at work, as unattended miners show.", off, len(ts), wh.Start, wh.End, map[bool]string{true: " on weekdays", false: ""}[wh.Weekdays]),
				Evidence:    e, Confidence: 0.5,
				Remediation: "Find who uses the machine at those hours; scan it (minerguard scan).",
			})
		}
		if period, cv, ok := Periodic(ts); ok {
			e := ev
			e.Details = map[string]string{"lookups": fmt.Sprint(len(ts)), "period": period.Round(time.Second).String(), "jitter": fmt.Sprintf("%.2f", cv)}
			out = append(out, findings.Finding{
				Rule: "net.beacon", Check: base.Check, Severity: findings.Medium, Signal: findings.SignalNetwork,
				Title:       fmt.Sprintf("%s looks up %s every %s", ev.SrcIP, ev.Domain, period.Round(time.Second)),
				Description: fmt.Sprintf("%d lookups at a regular interval (%s, relative jitter %.2f): a program, not a person, asks — the regular access the seeds warn about.", len(ts), period.Round(time.Second), cv),
				Evidence:    e, Confidence: 0.6,
				Remediation: "Find the process on that machine that resolves the name (minerguard scan).",
			})
		}
	}
	return out
}

// Periodic reports a regular interval: at least 6 events (sorted) whose gaps vary
// by less than 15% (coefficient of variation), ignoring gaps under a
// second (resolver retries).
func Periodic(ts []time.Time) (time.Duration, float64, bool) {
	var gaps []float64
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]).Seconds(); d >= 1 {
			gaps = append(gaps, d)
		}
	}
	if len(gaps) < 5 {
		return 0, 0, false
	}
	mean := 0.0
	for _, g := range gaps {
		mean += g
	}
	mean /= float64(len(gaps))
	v := 0.0
	for _, g := range gaps {
		v += (g - mean) * (g - mean)
	}
	cv := math.Sqrt(v/float64(len(gaps))) / mean
	return time.Duration(mean * float64(time.Second)), cv, cv < 0.15
}
