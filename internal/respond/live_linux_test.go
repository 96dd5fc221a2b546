package respond_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
)

var (
	minerOnce sync.Once
	minerBin  string
	minerErr  error
)

func fakeminer(t *testing.T) string {
	t.Helper()
	minerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fakeminer-")
		if err != nil {
			minerErr = err
			return
		}
		minerBin = filepath.Join(dir, "fakeminer")
		if out, err := exec.Command("go", "build", "-o", minerBin, "github.com/minerguard/minerguard/internal/testkit/fakeminer").CombinedOutput(); err != nil {
			minerErr = fmt.Errorf("go build fakeminer: %v\n%s", err, out)
		}
	})
	if minerErr != nil {
		t.Fatal(minerErr)
	}
	return minerBin
}

// procsUnder lists live (non-zombie) processes whose executable or command
// line is under dir.
func procsUnder(dir string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			continue
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.HasPrefix(exe, dir) || strings.Contains(string(cl), dir) {
			out = append(out, fmt.Sprintf("%d %s %q", pid, exe, strings.ReplaceAll(string(cl), "\x00", " ")))
		}
	}
	return out
}

func killUnder(dir string) {
	for _, p := range procsUnder(dir) {
		pid, _ := strconv.Atoi(strings.Fields(p)[0])
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// TestLiveMinerWithWatchdogs is the live acceptance test: a fake miner
// (real Stratum to a loopback pool, burning CPU), a shell watchdog that
// restarts it within half a second, and a detached guardian that restarts
// the watchdog — neither an ancestor of the other. clean --apply must end
// all of them, and verify --watch must see nothing come back.
func TestLiveMinerWithWatchdogs(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("live processes")
	}
	pool, err := fakepool.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	dir := filepath.Join(t.TempDir(), ".cache-kx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killUnder(dir) })
	miner := filepath.Join(dir, "kdevtmpfsi")
	b, err := os.ReadFile(fakeminer(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(miner, b, 0o755); err != nil {
		t.Fatal(err)
	}
	wallet := "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
	watchdog := fmt.Sprintf("#!/bin/sh\necho $$ > %s/wd.pid\nwhile :; do %s -o stratum+tcp://127.0.0.1:%d -u %s --threads 1; sleep 0.3; done\n",
		dir, miner, pool.Port(), wallet)
	guardian := fmt.Sprintf("#!/bin/sh\nwhile :; do\n  if ! kill -0 \"$(cat %[1]s/wd.pid 2>/dev/null)\" 2>/dev/null; then ( sh %[1]s/watchdog.sh >/dev/null 2>&1 & ) ; fi\n  sleep 0.5\ndone\n", dir)
	for name, body := range map[string]string{"watchdog.sh": watchdog, "guardian.sh": guardian} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	g := exec.Command("sh", filepath.Join(dir, "guardian.sh"))
	g.Dir = dir
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	go g.Wait() // reap it once killed
	// Wait until the miner has logged in to the pool.
	deadline := time.Now().Add(15 * time.Second)
	for len(pool.Logins()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(pool.Logins()) == 0 {
		t.Fatalf("fake miner never logged in; processes: %v", procsUnder(dir))
	}
	// The watchdog really restarts the miner: kill it and watch it return.
	minerPID := func() int {
		for _, p := range procsUnder(dir) {
			if f := strings.Fields(p); f[1] == miner {
				pid, _ := strconv.Atoi(f[0])
				return pid
			}
		}
		return 0
	}
	first := minerPID()
	syscall.Kill(first, syscall.SIGKILL)
	for deadline = time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if p := minerPID(); p != 0 && p != first {
			break
		}
	}
	if p := minerPID(); p == 0 || p == first {
		t.Fatal("the watchdog did not restart the miner; the test setup is wrong")
	}
	time.Sleep(300 * time.Millisecond)

	// Bystanders running the same system programs as the watchdogs (sh,
	// sleep) must survive the clean and the sweep.
	bystander := exec.Command("sh", "-c", "while :; do sleep 0.2; done")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { bystander.Process.Kill(); bystander.Wait() }()

	state := t.TempDir()
	report := filepath.Join(t.TempDir(), "report.json")
	if out, code := run(t, "scan", "--format", "json", "--output", report, "--sample", "0", "--fail-on", "none"); code != 0 {
		t.Fatalf("scan: exit %d\n%s", code, out)
	}
	var rep findings.Report
	data, _ := os.ReadFile(report)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	pid := minerPID()
	inc := ""
	for _, in := range rep.Incidents {
		if slices.Contains(in.PIDs, pid) || in.PID == pid {
			inc = in.ID
		}
	}
	if inc == "" {
		t.Fatalf("no incident for the miner pid %d: %+v", pid, rep.Incidents)
	}
	out, code := run(t, "clean", "--from", report, "--incident", inc, "--apply", "--yes", "--state-dir", state, "--sweep", "3s")
	if code != 0 {
		t.Fatalf("clean: exit %d\n%s", code, out)
	}
	t.Logf("clean:\n%s", out)
	time.Sleep(1500 * time.Millisecond) // longer than both restart loops
	if left := procsUnder(dir); len(left) > 0 {
		t.Fatalf("still running after clean:\n%s\n\nclean said:\n%s", strings.Join(left, "\n"), out)
	}
	if err := bystander.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the clean killed an unrelated shell loop: %v", err)
	}
	// Evidence of the miner was taken while it was frozen.
	ev, _ := filepath.Glob(filepath.Join(state, "runs", "*", "evidence", "*", "process.json"))
	found := false
	for _, e := range ev {
		b, _ := os.ReadFile(e)
		var rec map[string]any
		json.Unmarshal(b, &rec)
		if rec["exe"] == miner && rec["exe_sha256"] != nil {
			found = true
		}
	}
	if !found {
		t.Errorf("no evidence with the miner's executable hash among %v", ev)
	}
	out, code = run(t, "verify", "--state-dir", state, "--watch", "4s", "--interval", "1s", "--min-severity", "none")
	if code != 0 || !strings.Contains(out, "nothing came back") {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	// verify does fail loudly when the miner returns.
	// The quarantined miner is dropped again and started.
	if err := os.WriteFile(miner, b, 0o755); err != nil {
		t.Fatal(err)
	}
	back := exec.Command(miner, "-o", fmt.Sprintf("127.0.0.1:%d", pool.Port()), "-u", wallet, "--threads", "0", "--max-runtime", "20s")
	if err := back.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { back.Process.Kill(); back.Wait() }()
	time.Sleep(300 * time.Millisecond)
	out, code = run(t, "verify", "--state-dir", state, "--min-severity", "none")
	if code != 1 || !strings.Contains(out, "CAME BACK") {
		t.Fatalf("verify missed a returned miner: exit %d\n%s", code, out)
	}
}
