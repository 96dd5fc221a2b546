package scan

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/findings"
)

type fakeCheck struct {
	run func() ([]findings.Finding, error)
}

func (f fakeCheck) Info() checks.Info { return checks.Info{ID: "test.fake"} }

func (f fakeCheck) Run(context.Context, *checks.Env) ([]findings.Finding, error) { return f.run() }

func TestRunCheckStatuses(t *testing.T) {
	one := []findings.Finding{{Rule: "r", Severity: findings.High}}
	tests := []struct {
		name       string
		run        func() ([]findings.Finding, error)
		status     string
		findings   int
		warnings   int
		wantErr    bool
		reasonPart string
	}{
		{"ok", func() ([]findings.Finding, error) { return one, nil }, "ok", 1, 0, false, ""},
		{"warnings keep the check ok and its findings", func() ([]findings.Finding, error) {
			return one, checks.Warn(errors.New("/etc/passwd:3: want 7 fields"), nil, errors.New("/etc/shadow: permission denied"))
		}, "ok", 1, 2, false, "2 warnings"},
		{"skipped", func() ([]findings.Finding, error) { return nil, checks.Skipped("no driver") }, "skipped", 0, 0, false, "no driver"},
		{"error", func() ([]findings.Finding, error) { return nil, errors.New("boom") }, "error", 0, 0, true, "boom"},
		{"panic", func() ([]findings.Finding, error) { panic("parser bug") }, "error", 0, 0, true, "parser bug"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCheck(context.Background(), fakeCheck{run: tc.run}, nil)
			if r.run.Status != tc.status || len(r.findings) != tc.findings || len(r.warnings) != tc.warnings || (r.err != nil) != tc.wantErr {
				t.Fatalf("got status %q findings %d warnings %v err %v", r.run.Status, len(r.findings), r.warnings, r.err)
			}
			if !strings.Contains(r.run.Reason, tc.reasonPart) {
				t.Errorf("reason %q, want it to contain %q", r.run.Reason, tc.reasonPart)
			}
			for _, w := range r.warnings {
				if !strings.HasPrefix(w, "check test.fake: /etc/") {
					t.Errorf("warning %q does not name the check and file", w)
				}
			}
		})
	}
	if checks.Warn(nil, nil) != nil {
		t.Error("Warn of nothing must be nil")
	}
}
