package findings

import "time"

// Report is the document written by `minerguard scan --format json`.
// Its layout is documented in docs/findings-schema.md and
// docs/findings.schema.json; fields are only ever added.
type Report struct {
	Tool       string     `json:"tool"`
	Version    string     `json:"version"`
	Schema     int        `json:"schema"`
	Host       HostInfo   `json:"host"`
	Started    time.Time  `json:"started"`
	Finished   time.Time  `json:"finished"`
	DurationMS int64      `json:"duration_ms"`
	Options    Options    `json:"options"`
	Findings   []Finding  `json:"findings"`
	Incidents  []Incident `json:"incidents"`
	Checks     []CheckRun `json:"checks"`
	Warnings   []string   `json:"warnings"`
	Summary    Summary    `json:"summary"`
}

// SchemaVersion is bumped only for incompatible changes.
const SchemaVersion = 1

// NetworkHost is HostInfo.Hostname of a report on network traffic
// (`minerguard net`), whose Root names the captures or logs read.
const NetworkHost = "network"

// HostInfo identifies the scanned machine.
type HostInfo struct {
	Hostname  string    `json:"hostname"`
	OS        string    `json:"os"`
	Arch      string    `json:"arch"`
	Kernel    string    `json:"kernel,omitempty"`
	Root      string    `json:"root"`
	Live      bool      `json:"live"`
	CPUs      int       `json:"cpus,omitempty"`
	BootTime  time.Time `json:"boot_time,omitzero"`
	Processes int       `json:"processes,omitempty"`
	MachineID string    `json:"machine_id,omitempty"`
}

// Options records how the scan was run.
type Options struct {
	SampleMS int64    `json:"sample_ms"`
	Checks   []string `json:"checks,omitempty"`
	IntelVer string   `json:"intel_version"`
}

// CheckRun records one check's outcome, so a reader sees what was not looked at.
type CheckRun struct {
	ID         string `json:"id"`
	Status     string `json:"status"` // ok, skipped, error
	Reason     string `json:"reason,omitempty"`
	Findings   int    `json:"findings"`
	DurationMS int64  `json:"duration_ms"`
}

// Summary counts findings and incidents by severity.
type Summary struct {
	Findings  map[string]int `json:"findings"`
	Incidents map[string]int `json:"incidents"`
	Highest   Severity       `json:"highest"`
}

// Summarise fills r.Summary from r.Findings and r.Incidents.
func (r *Report) Summarise() {
	s := Summary{Findings: map[string]int{}, Incidents: map[string]int{}}
	for _, f := range r.Findings {
		s.Findings[f.Severity.String()]++
		s.Highest = Max(s.Highest, f.Severity)
	}
	for _, in := range r.Incidents {
		s.Incidents[in.Severity.String()]++
		s.Highest = Max(s.Highest, in.Severity)
	}
	r.Summary = s
}

// CountAtLeast counts findings and incidents at or above min; the exit code of
// `scan --fail-on` is decided by it.
func (r *Report) CountAtLeast(min Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity >= min {
			n++
		}
	}
	for _, in := range r.Incidents {
		if in.Severity >= min {
			n++
		}
	}
	return n
}
