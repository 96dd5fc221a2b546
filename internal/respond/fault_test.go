//go:build linux

package respond_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/testkit/fstree"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// minerguardBin builds the real binary once: the fault test kills it.
func minerguardBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "minerguard-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "minerguard")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/minerguard/minerguard/cmd/minerguard")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// runBin runs the binary; killed says it died of SIGKILL (a crash).
func runBin(t *testing.T, crashAt int, args ...string) (out string, code int, killed bool) {
	t.Helper()
	cmd := exec.Command(minerguardBin(t), args...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("MINERGUARD_TEST_CRASH_AT=%d", crashAt))
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return string(b), -1, true
		}
		return string(b), ee.ExitCode(), false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), 0, false
}

// TestCrashAnywhereThenUndo cuts `clean --apply` at every step between
// two durable changes (as a power cut or kill -9 would), then either
// resumes the run or undoes it — and undo itself is cut too. Every time,
// undo gives back the original tree: no user file is ever lost.
func TestCrashAnywhereThenUndo(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("runs the binary a few hundred times")
	}
	base := t.TempDir()
	pristine := filepath.Join(base, "pristine")
	writeInfected(t, pristine)
	t.Cleanup(func() { clearFlags(base) })
	want := fstree.Snapshot(t, pristine)
	plan := filepath.Join(base, "plan.json")
	if out, code, _ := runBin(t, 0, "clean", "--root", pristine, "--state-dir", filepath.Join(base, "s0"), "--output", plan); code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	crashes := 0
	for n := 1; n < 1000; n++ {
		root := filepath.Join(base, fmt.Sprintf("r%d", n))
		state := filepath.Join(base, fmt.Sprintf("s%d", n))
		writeInfected(t, root)
		out, code, killed := runBin(t, n, "clean", "--root", root, "--plan", plan, "--apply", "--yes", "--state-dir", state)
		if !killed {
			if code != 0 {
				t.Fatalf("step %d: clean exit %d\n%s", n, code, out)
			}
			break // n is past the last step: the run finished
		}
		crashes++
		switch n % 3 {
		case 0: // finish the run, then undo it
			if out, code, _ := runBin(t, 0, "clean", "--root", root, "--resume", "latest", "--state-dir", state); code != 0 {
				t.Fatalf("step %d: resume exit %d\n%s", n, code, out)
			}
			for p, body := range map[string]string{"root/.bashrc": "alias ll='ls -l'\nexport PATH=$PATH:/opt/tools\n",
				"var/spool/cron/crontabs/root": "# m h dom mon dow command\n0 3 * * * /usr/local/bin/backup.sh\n"} {
				if b, _ := os.ReadFile(filepath.Join(root, p)); string(b) != body {
					t.Fatalf("step %d: after resume %s = %q", n, p, b)
				}
			}
		case 1: // cut undo as well, then undo again
			runBin(t, 1+n%7, "undo", "--root", root, "--state-dir", state)
		}
		if out, code, _ := runBin(t, 0, "undo", "--root", root, "--state-dir", state); code != 0 && !strings.Contains(out, "already undone") {
			t.Fatalf("step %d: undo exit %d\n%s", n, code, out)
		}
		if d := fstree.Diff(want, fstree.Snapshot(t, root)); len(d) > 0 {
			t.Fatalf("crash at step %d, then undo: tree differs:\n%s", n, strings.Join(d, "\n"))
		}
		clearFlags(root)
		os.RemoveAll(root)
		os.RemoveAll(state)
	}
	if crashes < 20 {
		t.Fatalf("only %d crash points: the fault hook is not reached", crashes)
	}
	t.Logf("cut the run at %d points; undo restored the tree every time", crashes)

	// And as an operator's kill -9 would: at random moments, no hook.
	for n := 0; n < 12; n++ {
		root := filepath.Join(base, fmt.Sprintf("k%d", n))
		state := filepath.Join(base, fmt.Sprintf("ks%d", n))
		writeInfected(t, root)
		cmd := exec.Command(minerguardBin(t), "clean", "--root", root, "--plan", plan, "--apply", "--yes", "--state-dir", state)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if out, code, _ := runBin(t, 0, "undo", "--root", root, "--state-dir", state); code != 0 && !strings.Contains(out, "no runs under") && !strings.Contains(out, "already undone") {
			t.Fatalf("random kill %d: undo exit %d\n%s", n, code, out)
		}
		if d := fstree.Diff(want, fstree.Snapshot(t, root)); len(d) > 0 {
			t.Fatalf("random kill %d, then undo: tree differs:\n%s", n, strings.Join(d, "\n"))
		}
		clearFlags(root)
	}
}
