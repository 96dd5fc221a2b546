package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestLDPreloadRootkitDoesNotBlindMinerguard builds a real readdir-hooking
// LD_PRELOAD library, shows it hides a process from ls, and shows the
// static minerguard binary run under the same preload still sees the
// process and reports the preload.
func TestLDPreloadRootkitDoesNotBlindMinerguard(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("LD_PRELOAD rootkits are a Linux (glibc) technique")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed: cannot build the test LD_PRELOAD library")
	}
	ls, err := exec.LookPath("ls")
	if err != nil {
		t.Skip("ls not installed")
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "hideproc.so")
	run(t, exec.Command(gcc, "-shared", "-fPIC", "-O2", "-o", lib, "testdata/hideproc.c", "-ldl"))

	// The hidden process: the checks' sleeper, named hideme, itself
	// started with the preload in its environment as a rootkit's would be.
	hideme := filepath.Join(dir, "hideme")
	goBuild(t, hideme, "../../internal/checks/testdata/sleeper")
	cmd := exec.Command(hideme)
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+lib)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("hideme did not start: %q %v", line, err)
	}
	pid := cmd.Process.Pid
	spid := strconv.Itoa(pid)

	listed := func(preload bool) bool {
		c := exec.Command(ls, "-1", "/proc")
		c.Env = os.Environ()
		if preload {
			c.Env = append(c.Env, "LD_PRELOAD="+lib)
		}
		b, err := c.Output()
		if err != nil {
			t.Fatalf("ls /proc: %v", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l == spid {
				return true
			}
		}
		return false
	}
	if !listed(false) {
		t.Fatalf("plain ls /proc does not list pid %d", pid)
	}
	if listed(true) {
		t.Fatalf("the preload library failed to hide pid %d from ls: the test proves nothing", pid)
	}

	mg := filepath.Join(dir, "minerguard")
	goBuild(t, mg, ".")
	scan := exec.Command(mg, "scan", "--format", "json", "--sample", "0", "--fail-on", "none",
		"--checks", "process.preload,process.hidden,process.exe_location")
	scan.Env = append(os.Environ(), "LD_PRELOAD="+lib)
	b, err := scan.Output()
	if err != nil {
		t.Fatalf("minerguard scan: %v\n%s", err, stderrOf(err))
	}
	var rep struct {
		Host struct {
			Processes int `json:"processes"`
		} `json:"host"`
		Findings []struct {
			Rule     string `json:"rule"`
			Severity string `json:"severity"`
			Evidence struct {
				PID   int      `json:"pid"`
				Comm  string   `json:"comm"`
				Paths []string `json:"paths"`
			} `json:"evidence"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	if rep.Host.Processes < 2 {
		t.Errorf("host.processes = %d", rep.Host.Processes)
	}
	var sawPreload bool
	for _, f := range rep.Findings {
		if f.Evidence.PID != pid {
			continue
		}
		switch f.Rule {
		case "process.preload.env":
			sawPreload = true
			if f.Severity != "medium" || f.Evidence.Comm != "hideme" || len(f.Evidence.Paths) != 1 || f.Evidence.Paths[0] != lib {
				t.Errorf("preload finding: %+v", f)
			}
		case "process.hidden":
			// minerguard reads /proc with getdents itself, so the process is
			// listed, not "hidden from the listing".
			t.Errorf("pid %d listed by minerguard but reported hidden", pid)
		}
	}
	if !sawPreload {
		t.Fatalf("minerguard under LD_PRELOAD did not report pid %d (hideme) with its LD_PRELOAD; findings: %+v", pid, rep.Findings)
	}
}

func goBuild(t *testing.T, out, pkg string) {
	t.Helper()
	c := exec.Command("go", "build", "-o", out, pkg)
	c.Env = append(os.Environ(), "CGO_ENABLED=0")
	run(t, c)
}

func run(t *testing.T, c *exec.Cmd) {
	t.Helper()
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(c.Args, " "), err, b)
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
