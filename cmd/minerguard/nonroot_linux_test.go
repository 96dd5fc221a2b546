package main

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
)

// buildBinary builds the static minerguard binary into a directory every
// user can read, as CI and users build it.
func buildBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mg-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "minerguard")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Without root most /proc/PID/exe, environ and fd entries are unreadable:
// the scan must still finish, produce a valid report and say what it could
// not see instead of failing or panicking.
func TestScanUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop to another user")
	}
	bin := buildBinary(t)
	cmd := exec.Command(bin, "scan", "--format", "json", "--sample", "200ms", "--fail-on", "none")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Dir = "/"
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("unprivileged scan failed: %v\n%s", err, stderr)
	}
	var rep findings.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, out)
	}
	if rep.Host.Processes < 2 {
		t.Errorf("saw %d processes; /proc listing must work without root", rep.Host.Processes)
	}
	for _, c := range rep.Checks {
		if c.Status == "error" {
			t.Errorf("check %s errored without root: %s", c.ID, c.Reason)
		}
	}
}

// TestBinaryIsStatic: the default build must carry no ELF interpreter and
// need no shared library, or ld.so would load /etc/ld.so.preload and
// LD_PRELOAD rootkits into the scanner itself.
func TestBinaryIsStatic(t *testing.T) {
	f, err := elf.Open(buildBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is dynamically linked", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("needs shared libraries %v", libs)
	}
}
