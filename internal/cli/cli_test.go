package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// copyExe copies a real program under a miner's name and runs it.
func startNamed(t *testing.T, name string) int {
	t.Helper()
	src, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Skip("no /bin/sleep")
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, src, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	time.Sleep(50 * time.Millisecond)
	return cmd.Process.Pid
}

func TestScanExitCodes(t *testing.T) {
	pid := startNamed(t, "xmrig")
	out := filepath.Join(t.TempDir(), "r.json")

	code, _, stderr := run(t, "scan", "--sample", "0", "--checks", "process.name", "--format", "json", "--output", out, "--fail-on", "high")
	if code != ExitFindings {
		t.Fatalf("exit = %d, want %d (stderr %q)", code, ExitFindings, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep findings.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("--output is not a JSON report: %v", err)
	}
	found := false
	for _, f := range rep.Findings {
		if f.Evidence.PID == pid && f.Rule == "process.name.miner" && f.Severity == findings.High {
			found = true
		}
	}
	if !found {
		t.Errorf("no process.name.miner finding for pid %d in %s", pid, b)
	}

	if code, _, stderr := run(t, "scan", "--sample", "0", "--checks", "process.name", "--fail-on", "none", "--output", "/dev/null"); code != ExitOK {
		t.Errorf("--output /dev/null: exit %d %s", code, stderr)
	}
	if code, _, _ := run(t, "scan", "--sample", "0", "--checks", "process.name", "--fail-on", "none"); code != ExitOK {
		t.Errorf("--fail-on none: exit %d", code)
	}
	if code, stdout, _ := run(t, "scan", "--sample", "0", "--checks", "process.name", "--fail-on", "critical", "--no-color"); code != ExitOK || !strings.Contains(stdout, "xmrig") {
		t.Errorf("--fail-on critical: exit %d, table %q", code, stdout)
	}
}

func TestScanErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"scan", "--fail-on", "severe"}, "--fail-on"},
		{[]string{"scan", "--root", "/nonexistent/root"}, "--root"},
		{[]string{"scan", "--checks", "no.such.check"}, "no.such.check"},
		{[]string{"scan", "--format", "xml", "--sample", "0"}, "xml"},
		{[]string{"scan", "--sample", "-1s"}, "--sample"},
		{[]string{"scan", "extra"}, "unknown command"},
	}
	for _, tc := range tests {
		code, _, stderr := run(t, tc.args...)
		if code != ExitError || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d stderr %q; want %d naming %q", tc.args, code, stderr, ExitError, tc.want)
		}
	}
}

func TestChecksAndVersion(t *testing.T) {
	code, out, _ := run(t, "checks")
	if code != 0 || !strings.Contains(out, "process.name") || !strings.Contains(out, "process.cpu") {
		t.Errorf("checks: %d %q", code, out)
	}
	code, out, _ = run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "minerguard ") {
		t.Errorf("version: %d %q", code, out)
	}
}
