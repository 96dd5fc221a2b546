// Package findings is the result model shared by every minerguard command:
// checks produce findings, the scan engine groups them into incidents, and
// report renders them without knowing how they were found.
package findings

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Severity orders findings from informational to critical.
type Severity int

// Severities, lowest first; the zero value is Info.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity accepts the lower-case names used in JSON and on the command
// line ("none" parses as one above critical, so nothing reaches it).
func ParseSeverity(s string) (Severity, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range severityNames {
		if n == s {
			return Severity(i), nil
		}
	}
	if s == "none" {
		return Critical + 1, nil
	}
	return Info, fmt.Errorf("unknown severity %q (want info, low, medium, high, critical or none)", s)
}

// MarshalJSON writes the severity as its name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a severity name.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("severity: %w", err)
	}
	v, err := ParseSeverity(name)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Max returns the higher of two severities.
func Max(a, b Severity) Severity {
	if a > b {
		return a
	}
	return b
}
