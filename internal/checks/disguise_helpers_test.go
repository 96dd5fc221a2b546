package checks

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/process"
	"github.com/minerguard/minerguard/internal/testkit/fstree"
)

// buildSleeper compiles testdata/sleeper, the disguisable test process.
func buildSleeper(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("live process tests need Linux")
	}
	out := filepath.Join(t.TempDir(), "sleeper")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/sleeper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build sleeper: %v\n%s", err, b)
	}
	return out
}

// copyExe copies the sleeper to dst (creating its directory).
func copyExe(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// startSleeper runs exe with argv[0] (exe when ""), waits until it says
// ready and returns its pid; the process is killed when the test ends.
func startSleeper(t *testing.T, exe, argv0 string, args ...string) int {
	t.Helper()
	cmd := exec.Command(exe, args...)
	if argv0 != "" {
		cmd.Args[0] = argv0
	}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("unexpected output %q", line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("sleeper: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sleeper did not start")
	}
	return cmd.Process.Pid
}

// liveEnv snapshots the running machine.
func liveEnv(t *testing.T) *Env {
	t.Helper()
	return envFor(t, liveHost(t))
}

// envFor snapshots the processes of h (a live host or a wrapper of one).
func envFor(t *testing.T, h host.Host) *Env {
	t.Helper()
	tab, err := process.Snapshot(context.Background(), h.Proc())
	if err != nil {
		t.Fatal(err)
	}
	return NewEnv(h, intel.MustLoad(), tab, nil)
}

func liveHost(t *testing.T) host.Host {
	t.Helper()
	h, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// runOn runs one registered check and returns its findings for pid (all
// findings when pid is 0).
func runOn(t *testing.T, env *Env, id string, pid int) []findings.Finding {
	t.Helper()
	c, ok := Lookup(id)
	if !ok {
		t.Fatalf("check %s not registered", id)
	}
	fs, err := c.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	if pid == 0 {
		return fs
	}
	var out []findings.Finding
	for _, f := range fs {
		if f.Evidence.PID == pid {
			out = append(out, f)
		}
	}
	return out
}

// want1 asserts exactly one finding with rule and severity.
func want1(t *testing.T, fs []findings.Finding, rule string, sev findings.Severity, pid int) findings.Finding {
	t.Helper()
	if len(fs) != 1 {
		t.Fatalf("want 1 %s finding for pid %d, got %d: %+v", rule, pid, len(fs), fs)
	}
	f := fs[0]
	if f.Rule != rule || f.Severity != sev || f.Evidence.PID != pid {
		t.Fatalf("got %s/%s pid %d, want %s/%s pid %d (%s)", f.Rule, f.Severity, f.Evidence.PID, rule, sev, pid, f.Description)
	}
	if f.Signal != findings.SignalDisguise && f.Signal != findings.SignalHiding {
		t.Fatalf("signal %s", f.Signal)
	}
	return f
}

// fakeProc is a process for a /proc fixture tree.
type fakeProc struct {
	pid     int
	comm    string
	cmdline []string
	exe     string // link target, " (deleted)" suffix allowed
	kernel  bool
	environ []string
	fds     []string // /proc/PID/fd link targets
	maps    []string // mapped file paths
}

// procFixture writes a /proc tree for procs and returns an Env over it
// with root as the host filesystem.
func procFixture(t *testing.T, root string, procs []fakeProc) *Env {
	t.Helper()
	dir := t.TempDir()
	for _, p := range procs {
		pd := filepath.Join(dir, fmt.Sprint(p.pid))
		if err := os.MkdirAll(pd, 0o755); err != nil {
			t.Fatal(err)
		}
		flags := 0
		if p.kernel {
			flags = 0x00200000
		}
		stat := fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 %d 0 0 0 0 10 5 0 0 20 0 1 0 100 1000000 200 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n", p.pid, p.comm, p.pid, p.pid, flags)
		status := fmt.Sprintf("Name:\t%s\nTgid:\t%d\nPPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nThreads:\t1\n", p.comm, p.pid)
		files := map[string]string{
			"stat":    stat,
			"status":  status,
			"cmdline": strings.Join(p.cmdline, "\x00") + nulIf(len(p.cmdline) > 0),
			"environ": strings.Join(p.environ, "\x00") + nulIf(len(p.environ) > 0),
		}
		for n, c := range files {
			if err := os.WriteFile(filepath.Join(pd, n), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if p.exe != "" {
			if err := os.Symlink(p.exe, filepath.Join(pd, "exe")); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(pd, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		for i, target := range p.fds {
			if err := os.Symlink(target, filepath.Join(pd, "fd", fmt.Sprint(i+3))); err != nil {
				t.Fatal(err)
			}
		}
		var maps strings.Builder
		for i, m := range p.maps {
			fmt.Fprintf(&maps, "7f%04x000000-7f%04x100000 r-xp 00000000 fd:01 %d    %s\n", i, i, 1000+i, m)
		}
		if err := os.WriteFile(filepath.Join(pd, "maps"), []byte(maps.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := host.Fixture(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := process.Snapshot(context.Background(), h.Proc())
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Errors) > 0 {
		t.Fatalf("fixture: %v", tab.Errors)
	}
	return NewEnv(h, intel.MustLoad(), tab, nil)
}

func nulIf(b bool) string {
	if b {
		return "\x00"
	}
	return ""
}

// writeTree creates files (mode 0755) and symlinks ("->target") under root.
func writeTree(t *testing.T, root string, tree map[string]string) {
	t.Helper()
	fstree.Write(t, root, tree, 0o755)
}
