//go:build linux

// End-to-end tests: real miner-like processes (internal/testkit/fakeminer)
// disguised the ways real intrusions disguise them, talking to a real pool
// server (internal/testkit/fakepool) on loopback, beside real benign load
// (an interpreter busy loop, a compiler loop, sleep); one live scan must
// call every miner critical and leave the benign load and the rest of the
// system alone.
package scan_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/scan"
	"github.com/minerguard/minerguard/internal/testkit/fakepool"
)

// fakeminerBin is built once per test binary, on first use, so the fast
// tests of this package (verdict rules) do not pay for a build.
var (
	fakeminerBin string
	buildErr     error
	buildOnce    sync.Once
	buildDir     string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func needMiner(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mg-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		bin := filepath.Join(dir, "fakeminer")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/minerguard/minerguard/internal/testkit/fakeminer")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build fakeminer: %v\n%s", err, out)
			return
		}
		fakeminerBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// procs tracks every process a test started, so each is killed (with its
// children) and reaped however the test ends.
type procs struct {
	t    *testing.T
	mu   sync.Mutex
	cmds []*exec.Cmd
}

func newProcs(t *testing.T) *procs {
	p := &procs{t: t}
	t.Cleanup(p.killAll)
	return p
}

// start runs path with argv (argv[0] as given, which may differ from the
// file name) in dir, in its own process group, killed if the test dies.
func (p *procs) start(path string, argv []string, dir string) *exec.Cmd {
	p.t.Helper()
	cmd := &exec.Cmd{Path: path, Args: argv, Dir: dir, Stdout: io.Discard, Stderr: io.Discard}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", path, err)
	}
	p.mu.Lock()
	p.cmds = append(p.cmds, cmd)
	p.mu.Unlock()
	return cmd
}

func (p *procs) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cmds {
		// The whole group: the compile loop's gcc children die with it.
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	p.cmds = nil
}

// xmrAddress returns a random string shaped like a Monero standard address
// (95 Base58 characters starting with 4), unique per miner so the pool's
// login record identifies which process logged in.
func xmrAddress(t *testing.T) string {
	const b58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	var b strings.Builder
	b.WriteString("4")
	b.WriteByte("0123456789AB"[randInt(t, 12)])
	for range 93 {
		b.WriteByte(b58[randInt(t, len(b58))])
	}
	return b.String()
}

func randInt(t *testing.T, n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		t.Fatal(err)
	}
	return int(v.Int64())
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// listenPool starts a fake pool on 127.0.0.1:port, or returns nil when the
// port is taken (or needs privileges we lack).
func listenPool(t *testing.T, port int) *fakepool.Pool {
	t.Helper()
	p, err := fakepool.Listen("127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Logf("no pool on port %d: %v", port, err)
		return nil
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// miner is one disguised miner and what the scan must say about it.
type miner struct {
	name   string
	pool   *fakepool.Pool
	user   string
	cmd    *exec.Cmd
	exe    string // the path the evidence must name (prefix for memfd)
	after  func() // run once the pool saw the login (delete the exe)
	expect string // which checks the verdict rests on, for failure messages
}

// minerArgs are the options every test miner gets besides its disguise:
// one busy thread (the machine has few cores), quick shares, and a hard
// stop so a crashed test leaves nothing burning CPU.
var minerArgs = []string{"--threads", "1", "--share-interval", "300ms", "--max-runtime", "5m"}

func TestEndToEndDisguisedMiners(t *testing.T) {
	needMiner(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root (ports 80/443, every process's /proc entries)")
	}
	ps := newProcs(t)
	// 3333 is the mining port the scenarios rely on; another test run may
	// hold it for a moment, so wait for it rather than fall back.
	var pool *fakepool.Pool
	for deadline := time.Now().Add(20 * time.Second); pool == nil; time.Sleep(500 * time.Millisecond) {
		if pool = listenPool(t, 3333); pool == nil && time.Now().After(deadline) {
			t.Fatal("port 3333 stayed busy: the mining-port scenarios need it")
		}
	}
	poolAddr := pool.Addr()
	var miners []*miner

	// a) copied to /dev/shm as "kworker", argv[0] and comm of a kernel worker.
	{
		shm, err := os.MkdirTemp("/dev/shm", ".x")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(shm) })
		exe := filepath.Join(shm, "kworker")
		copyFile(t, fakeminerBin, exe)
		w := xmrAddress(t)
		cmd := ps.start(exe, append([]string{"[kworker/0:2]", "--comm", "kworker/0:2", "-o", "stratum+tcp://" + poolAddr, "-u", w}, minerArgs...), "/")
		miners = append(miners, &miner{name: "kworker in /dev/shm", pool: pool, user: w, cmd: cmd, exe: exe,
			expect: "process.kthread_mimic + process.exe_location (disguise), process.cmdline/process.wallet (identity), network.pool (3333)"})
	}
	// b) executable deleted once it runs.
	{
		exe := filepath.Join(t.TempDir(), "dbus-session")
		copyFile(t, fakeminerBin, exe)
		w := xmrAddress(t)
		cmd := ps.start(exe, append([]string{exe, "--proto", "stratum", "-o", poolAddr, "-u", w}, minerArgs...), "/")
		miners = append(miners, &miner{name: "deleted exe", pool: pool, user: w, cmd: cmd, exe: exe + " (deleted)",
			after:  func() { os.Remove(exe) },
			expect: "process.exe_deleted (disguise), process.cmdline/process.wallet (identity), network.pool (3333)"})
	}
	// c) running from a memfd.
	{
		w := xmrAddress(t)
		cmd := ps.start(fakeminerBin, append([]string{"fakeminer", "--memfd", "-o", poolAddr, "-u", w}, minerArgs...), "/")
		miners = append(miners, &miner{name: "memfd", pool: pool, user: w, cmd: cmd, exe: "/memfd:",
			expect: "process.exe_memfd (disguise), process.cmdline/process.wallet (identity), network.pool (3333)"})
	}
	// d) configuration file only: nothing about mining on the command line.
	{
		dir := t.TempDir()
		exe := filepath.Join(dir, "syslogd-helper")
		copyFile(t, fakeminerBin, exe)
		w := xmrAddress(t)
		cfg := fmt.Sprintf(`{
  "autosave": true, "donate-level": 1,
  "cpu": {"enabled": true, "huge-pages": true, "max-threads-hint": 25},
  "pools": [{"algo": "rx/0", "coin": "monero", "url": "stratum+tcp://%s", "user": %q, "pass": "x", "keepalive": true, "tls": false}]
}`, poolAddr, w)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := ps.start(exe, []string{exe}, dir)
		miners = append(miners, &miner{name: "config.json only", pool: pool, user: w, cmd: cmd, exe: exe,
			expect: "process.miner_config (identity), process.exe_location (disguise), network.pool (3333)"})
	}
	// e) plain xmrig on the web ports, which are not mining ports.
	for _, port := range []int{443, 80} {
		p := listenPool(t, port)
		if p == nil {
			t.Logf("skipping the xmrig-on-port-%d scenario: port busy", port)
			continue
		}
		exe := filepath.Join(t.TempDir(), "xmrig")
		copyFile(t, fakeminerBin, exe)
		w := xmrAddress(t)
		cmd := ps.start(exe, []string{"xmrig", "-o", p.Addr(), "-u", w, "--donate-level", "1", "--threads", "1", "--share-interval", "300ms", "--max-runtime", "5m"}, "/")
		miners = append(miners, &miner{name: fmt.Sprintf("xmrig on port %d", port), pool: p, user: w, cmd: cmd, exe: exe,
			expect: "process.name (identity), process.cmdline --donate-level/-o + process.wallet (identity), network.pool: connection to the -o endpoint"})
	}
	// f) named python3 in a user's home directory.
	{
		exe := filepath.Join(t.TempDir(), "home", "alice", "python3")
		copyFile(t, fakeminerBin, exe)
		w := xmrAddress(t)
		cmd := ps.start(exe, append([]string{"python3", "-o", poolAddr, "-u", w}, minerArgs...), filepath.Dir(exe))
		miners = append(miners, &miner{name: "python3 in a home dir", pool: pool, user: w, cmd: cmd, exe: exe,
			expect: "process.daemon_mimic (disguise), process.cmdline/process.wallet (identity), network.pool (3333)"})
	}
	// g) hostile bytes in argv and comm: newline, escape sequences, invalid UTF-8.
	{
		exe := filepath.Join(t.TempDir(), "svc")
		copyFile(t, fakeminerBin, exe)
		w := xmrAddress(t)
		argv := append([]string{"svc\n\x1b[2J\xff", "--comm", "\x1b]0;x\a\n\xfe", "-o", poolAddr, "-u", w}, minerArgs...)
		argv = append(argv, "--", "line\nbreak", "\x1b[31mred", "\xff\xfe\xfd")
		cmd := ps.start(exe, argv, "/")
		miners = append(miners, &miner{name: "control bytes", pool: pool, user: w, cmd: cmd, exe: exe,
			expect: "process.cmdline/process.wallet (identity), network.pool (3333)"})
	}

	benign := startBenign(t, ps)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, m := range miners {
		l, err := m.pool.WaitLogin(ctx, m.user)
		if err != nil {
			t.Fatalf("%s (pid %d) never logged in: %v", m.name, m.cmd.Process.Pid, err)
		}
		t.Logf("%s: pid %d logged in from %s (%s)", m.name, m.cmd.Process.Pid, l.Remote, l.Dialect)
		if m.after != nil {
			m.after()
		}
	}
	for _, m := range miners {
		if err := m.pool.WaitShares(ctx, m.user, 1); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}

	h, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := scan.Run(ctx, h, scan.Options{Sample: time.Second})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	for _, c := range rep.Checks {
		if c.Status == "error" {
			t.Errorf("check %s failed: %s", c.ID, c.Reason)
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("report does not marshal: %v", err)
	}
	incidents := map[int]findings.Incident{}
	for _, in := range rep.Incidents {
		for _, pid := range in.PIDs {
			if _, dup := incidents[pid]; dup {
				t.Errorf("pid %d is in two incidents", pid)
			}
			incidents[pid] = in
		}
	}
	byPID := map[int][]findings.Finding{}
	for _, f := range rep.Findings {
		if f.Evidence.PID > 0 {
			byPID[f.Evidence.PID] = append(byPID[f.Evidence.PID], f)
		}
	}

	for _, m := range miners {
		t.Run("miner/"+m.name, func(t *testing.T) {
			pid := m.cmd.Process.Pid
			in, ok := incidents[pid]
			if !ok {
				t.Fatalf("no incident for pid %d (expected from %s); findings: %s", pid, m.expect, describe(byPID[pid]))
			}
			// Every scenario is a miner that is identified or disguised
			// AND talks to a pool: the contract is critical.
			if in.Severity != findings.Critical {
				t.Errorf("incident %s severity %s, want critical (expected from %s); rules %v; findings: %s", in.ID, in.Severity, m.expect, in.Rules, describe(byPID[pid]))
			}
			remote := "127.0.0.1:" + strconv.Itoa(m.pool.Port())
			if !slices.Contains(in.Remotes, remote) {
				t.Errorf("incident remotes %v lack the pool %s (network.pool)", in.Remotes, remote)
			}
			var sawPID, sawExe, sawRemote bool
			for _, f := range byPID[pid] {
				sawPID = true
				if strings.HasPrefix(f.Evidence.Exe, m.exe) {
					sawExe = true
				}
				if f.Evidence.Remote == remote {
					sawRemote = true
				}
				assertPrintable(t, f)
			}
			if !sawPID || !sawExe || !sawRemote {
				t.Errorf("evidence: pid %v, exe %q %v, remote %s %v; findings: %s", sawPID, m.exe, sawExe, remote, sawRemote, describe(byPID[pid]))
			}
			if !strings.HasPrefix(in.Exe, m.exe) {
				t.Errorf("incident exe %q, want %q", in.Exe, m.exe)
			}
		})
	}

	ours := descendantsOf(t, rep, benign, miners)
	t.Run("benign", func(t *testing.T) {
		for pid, what := range ours.benign {
			for _, f := range byPID[pid] {
				if f.Severity >= findings.Medium {
					t.Errorf("benign %s (pid %d): %s", what, pid, describe([]findings.Finding{f}))
				}
			}
			if in, ok := incidents[pid]; ok && in.Severity >= findings.Medium {
				t.Errorf("benign %s (pid %d): incident %s %s %q", what, pid, in.ID, in.Severity, in.Title)
			}
		}
	})
	t.Run("system", func(t *testing.T) {
		for _, f := range rep.Findings {
			pid := f.Evidence.PID
			if pid <= 0 || f.Severity < findings.Medium || ours.all[pid] {
				continue
			}
			if why := foreignTest(pid, f.Evidence.Exe); why != "" {
				// Another package's tests on this machine (go test runs
				// packages in parallel) start miners of their own.
				t.Logf("ignoring pid %d (%s): %s", pid, why, f.Rule)
				continue
			}
			t.Errorf("process not started by the test: %s", describe([]findings.Finding{f}))
		}
	})
}

// benignProc is benign load and what it stands for.
type benignProc struct {
	what string
	cmd  *exec.Cmd
}

// startBenign starts what a shared research machine runs all day: an
// interpreter training loop, a compiler in a loop, an idle sleep.
func startBenign(t *testing.T, ps *procs) []benignProc {
	t.Helper()
	dir := t.TempDir()
	var out []benignProc
	python, err := exec.LookPath("python3")
	if err == nil {
		// Resolve shims (pyenv) to the real interpreter, which then
		// runs as its own name from its own installation.
		if real, err := exec.Command(python, "-c", "import sys; print(sys.executable)").Output(); err == nil {
			python = strings.TrimSpace(string(real))
		}
		script := filepath.Join(dir, "train.py")
		src := "import math\nw = [0.1] * 64\nwhile True:\n    for i in range(64):\n        w[i] = math.tanh(w[i] * 0.999 + 0.001)\n"
		if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, benignProc{"python3 training loop", ps.start(python, []string{"python3", script, "--epochs", "100"}, dir)})
	} else {
		t.Log("no python3: skipping the interpreter load")
	}
	if perl, err := exec.LookPath("perl"); err == nil {
		out = append(out, benignProc{"perl busy loop", ps.start(perl, []string{"perl", "-e", "my $x = 0; while (1) { $x = ($x * 31 + 7) % 1000003 }"}, dir)})
	}
	if _, err := exec.LookPath("gcc"); err == nil {
		var src strings.Builder
		src.WriteString("#include <stdio.h>\n")
		for i := range 300 {
			fmt.Fprintf(&src, "static int f%d(int x) { return x * %d + (x >> 3); }\n", i, i+1)
		}
		src.WriteString("int main(void) { int s = 0;\n")
		for i := range 300 {
			fmt.Fprintf(&src, "  s += f%d(s);\n", i)
		}
		src.WriteString("  printf(\"%d\\n\", s); return 0; }\n")
		if err := os.WriteFile(filepath.Join(dir, "gen.c"), []byte(src.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		bash, _ := exec.LookPath("bash")
		out = append(out, benignProc{"gcc compile loop", ps.start(bash, []string{"bash", "-c", "while :; do gcc -O2 -o gen gen.c; done"}, dir)})
	}
	sleep, _ := exec.LookPath("sleep")
	out = append(out, benignProc{"sleep", ps.start(sleep, []string{"sleep", "600"}, dir)})
	return out
}

type ourPIDs struct {
	all    map[int]bool
	benign map[int]string
}

// descendantsOf lists the pids the test started, with their children (the
// compile loop's gcc, cc1, as), read from the scan's own view.
func descendantsOf(t *testing.T, rep *findings.Report, benign []benignProc, miners []*miner) ourPIDs {
	o := ourPIDs{all: map[int]bool{os.Getpid(): true}, benign: map[int]string{}}
	for _, m := range miners {
		o.all[m.cmd.Process.Pid] = true
	}
	for _, b := range benign {
		o.benign[b.cmd.Process.Pid] = b.what
		o.all[b.cmd.Process.Pid] = true
	}
	// Children come and go (gcc): a pid in a finding is ours when its
	// ancestry (from the scan's ppid, then /proc) reaches a pid we started.
	for _, f := range rep.Findings {
		pid := f.Evidence.PID
		if pid <= 0 || o.all[pid] {
			continue
		}
		for a, hops := f.Evidence.PPID, 0; a > 1 && hops < 64; a, hops = ppid(a), hops+1 {
			if what, ok := o.benign[a]; ok {
				o.benign[pid] = what + " (child)"
			}
			if o.all[a] {
				o.all[pid] = true
				break
			}
		}
	}
	return o
}

func ppid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// goTestTemp matches executables in another test's t.TempDir() or build
// cache: such a process may have exited before its ancestry can be read.
var goTestTemp = regexp.MustCompile(`^` + regexp.QuoteMeta(os.TempDir()) + `/(Test[^/]+/[0-9]+|go-build[0-9]+|minerguard-bin-[0-9]+|fakeminer-[0-9]+)/`)

// foreignTest says why pid belongs to another test run (an ancestor is a
// compiled test binary or the go command, or it runs from another test's
// temp dir), or "" when it does not.
func foreignTest(pid int, exe string) string {
	if goTestTemp.MatchString(exe) {
		return "runs from another test's temp dir"
	}
	// A shell loop another test detached (a watchdog reparented to init)
	// names that test's temp dir on its command line.
	if cl, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		for _, arg := range strings.Split(string(cl), "\x00") {
			if goTestTemp.MatchString(arg) {
				return "runs a script from another test's temp dir"
			}
		}
	}
	for a := pid; a > 1; a = ppid(a) {
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(a) + "/exe")
		exe = strings.TrimSuffix(exe, " (deleted)")
		if strings.HasSuffix(exe, ".test") || filepath.Base(exe) == "go" || strings.Contains(exe, "/go-build") {
			return fmt.Sprintf("descendant of %s (pid %d)", exe, a)
		}
	}
	return ""
}

func describe(fs []findings.Finding) string {
	if len(fs) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s %s [%s] pid=%d exe=%q remote=%q: %s", f.Severity, f.Rule, f.Signal, f.Evidence.PID, f.Evidence.Exe, f.Evidence.Remote, f.Title)
	}
	return b.String()
}

// assertPrintable fails when evidence would put raw control bytes on a
// terminal: cmdline and comm come from the process and are hostile.
func assertPrintable(t *testing.T, f findings.Finding) {
	t.Helper()
	for name, s := range map[string]string{"comm": f.Evidence.Comm, "cmdline": f.Evidence.Cmdline, "exe": f.Evidence.Exe, "title": f.Title, "description": f.Description} {
		for _, r := range s {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Errorf("%s %s carries control byte %q: %q", f.Rule, name, r, s)
				break
			}
		}
	}
}

// Processes that start and exit while the scan reads /proc must not make
// it fail or panic: pids vanish between listing and reading every time.
func TestScanWhileProcessesChurn(t *testing.T) {
	needMiner(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var started int
	wg.Add(1)
	go func() {
		defer wg.Done()
		sleep, _ := exec.LookPath("sleep")
		for {
			select {
			case <-stop:
				return
			default:
			}
			var batch []*exec.Cmd
			for range 8 {
				c := exec.Command(sleep, "5")
				c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
				if c.Start() == nil {
					batch = append(batch, c)
				}
			}
			// A miner too, so heavy checks (exe scan, sockets) meet vanishing pids.
			m := exec.Command(fakeminerBin, "-o", "127.0.0.1:9", "-u", "w", "--threads", "0", "--max-runtime", "10s")
			m.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if m.Start() == nil {
				batch = append(batch, m)
			}
			time.Sleep(5 * time.Millisecond)
			for _, c := range batch {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
			started += len(batch)
		}
	}()
	h, err := host.Live()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 3 {
		rep, err := scan.Run(ctx, h, scan.Options{Sample: 300 * time.Millisecond})
		if err != nil {
			t.Fatalf("scan with churning processes: %v", err)
		}
		for _, c := range rep.Checks {
			if c.Status == "error" {
				t.Errorf("check %s failed while processes churned: %s", c.ID, c.Reason)
			}
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if started == 0 {
		t.Fatal("no process was started")
	}
	t.Logf("%d short-lived processes started and killed during 3 scans", started)
}
