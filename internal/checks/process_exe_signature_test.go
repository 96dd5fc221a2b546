package checks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/process"
	"github.com/minerguard/minerguard/internal/sigscan"
)

// fakeMinerSrc is a tiny Go program carrying the strings a real miner's
// binary has; it prints them only when asked so the linker keeps them.
const fakeMinerSrc = `package main

import (
	"fmt"
	"os"
	"time"
)

var strs = []string{"stratum+tcp://", "mining.subscribe", "mining.authorize", "donate-level", "XMRig/6.21.0"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "print" {
		fmt.Println(strs)
	}
	time.Sleep(time.Hour)
}
`

// startProc runs path with args and returns the command, killed at cleanup.
func startProc(t *testing.T, path string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(path, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Wait until the kernel has switched the exe link to the new image.
	for i := 0; i < 200; i++ {
		l, err := os.Readlink(filepath.Join("/proc", itoaT(cmd.Process.Pid), "exe"))
		if err == nil && filepath.Base(l) == filepath.Base(path) {
			return cmd
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pid %d never exec'd %s", cmd.Process.Pid, path)
	return nil
}

func itoaT(n int) string { return strconv.Itoa(n) }

func atoiT(s string) int { n, _ := strconv.Atoi(s); return n }

var sigscanResultUPX = sigscan.Result{Size: 1000, Packer: "UPX"}

func findingsFor(fs []findings.Finding, pid int, rule string) []findings.Finding {
	var out []findings.Finding
	for _, f := range fs {
		if f.Evidence.PID == pid && f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func TestExeSignatureDeletedFakeMiner(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go toolchain not in PATH")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(fakeMinerSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kworkerd")
	build := exec.Command(goTool, "build", "-o", bin, "main.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build fake miner: %v\n%s", err, out)
	}
	orig, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(orig)
	wantSum := hex.EncodeToString(sum[:])

	miner := startProc(t, bin)
	benign := startProc(t, "/bin/sleep", "3600")
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}

	env := envFor(t, liveHost(t))
	out, err := checkExeSignature(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	got := findingsFor(out, miner.Process.Pid, "process.exe_signature")
	if len(got) != 1 {
		t.Fatalf("want one process.exe_signature for pid %d, got %+v", miner.Process.Pid, out)
	}
	f := got[0]
	if f.Severity != findings.High || f.Signal != findings.SignalIdentity {
		t.Errorf("severity %v signal %v", f.Severity, f.Signal)
	}
	if f.Evidence.SHA256 != wantSum {
		t.Errorf("sha256 %s, want %s (the deleted file's original bytes)", f.Evidence.SHA256, wantSum)
	}
	if f.Evidence.Size != int64(len(orig)) {
		t.Errorf("size %d, want %d", f.Evidence.Size, len(orig))
	}
	for _, id := range []string{"stratum-tcp", "stratum-subscribe", "stratum-authorize", "xmrig-donate-level", "xmrig-name"} {
		if !slices.Contains(f.Evidence.Match, id) {
			t.Errorf("match %v lacks %s", f.Evidence.Match, id)
		}
	}
	if f.Evidence.Family != "xmrig" || f.Evidence.Exe != bin+" (deleted)" {
		t.Errorf("family %q exe %q", f.Evidence.Family, f.Evidence.Exe)
	}
	if len(findingsFor(out, miner.Process.Pid, "process.exe_packed")) != 0 {
		t.Error("unpacked miner reported as packed")
	}
	for _, f := range out {
		if f.Evidence.PID == benign.Process.Pid {
			t.Errorf("benign /bin/sleep got %s", f.Rule)
		}
		// Some sandboxes deny even root their init's exe; our own
		// children must always be readable.
		if f.Rule == "scan.exe_unreadable" {
			pids := strings.Fields(f.Evidence.Details["pids"])
			if slices.Contains(pids, itoaT(miner.Process.Pid)) || slices.Contains(pids, itoaT(benign.Process.Pid)) {
				t.Errorf("our children counted unreadable: %s", f.Evidence.Details["pids"])
			}
		}
	}
}

// TestSleepingHelper is not a test: TestExeSignatureSkipsMinerguardBuilds
// runs this test binary with it to have a minerguard build as a process.
func TestSleepingHelper(t *testing.T) {
	if os.Getenv("MINERGUARD_SLEEPING_HELPER") != "1" {
		t.Skip("helper process only")
	}
	time.Sleep(time.Hour)
}

// TestExeSignatureSkipsMinerguardBuilds: another build of minerguard (here
// this test binary with bytes appended, as a different version would
// differ) carries every signature and packer mark as intel data but is not
// reported as mining code or as packed; the fake miner's test shows the
// same check still reports other programs.
func TestExeSignatureSkipsMinerguardBuilds(t *testing.T) {
	dir := t.TempDir()
	copyWithTrailer(t, os.Args[0], filepath.Join(dir, "minerguard-old"), []byte("another build"))
	cmd := exec.Command(filepath.Join(dir, "minerguard-old"), "-test.run=^TestSleepingHelper$")
	cmd.Env = append(os.Environ(), "MINERGUARD_SLEEPING_HELPER=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 200; i++ {
		if l, _ := os.Readlink(filepath.Join("/proc", itoaT(cmd.Process.Pid), "exe")); filepath.Base(l) == "minerguard-old" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	env := envFor(t, liveHost(t))
	// The copy does carry the signatures: only the build check spares it.
	res, err := env.Exes.ScanExe(env.Host.Proc(), cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Matched || res.Packer == "" {
		t.Fatalf("this test binary should carry miner signatures and a packer mark as intel data: %+v", res)
	}
	out, err := checkExeSignature(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range out {
		if f.Evidence.PID == cmd.Process.Pid {
			t.Errorf("a minerguard build reported: %s %s", f.Rule, f.Title)
		}
	}
}

// copyWithTrailer copies src to dst and appends extra bytes: an ELF
// runs unchanged with data after its last section.
func copyWithTrailer(t *testing.T, src, dst string, extra []byte) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, append(b, extra...), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestExePackedCraftedUPX(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "updater")
	// The marks UPX writes: "UPX!" headers and the $Info line.
	copyWithTrailer(t, "/bin/sleep", bin, []byte("\x00UPX!\x0d\x0b\x08\x08$Info: This file is packed with the UPX executable packer http://upx.sf.net $\x00"))
	cmd := startProc(t, bin, "3600")
	env := envFor(t, liveHost(t))
	out, err := checkExeSignature(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	got := findingsFor(out, cmd.Process.Pid, "process.exe_packed")
	if len(got) != 1 || got[0].Severity != findings.Medium || got[0].Signal != findings.SignalDisguise || got[0].Evidence.Exe != bin {
		t.Fatalf("want one medium disguise process.exe_packed for %s pid %d, got %+v", bin, cmd.Process.Pid, got)
	}
	if len(findingsFor(out, cmd.Process.Pid, "process.exe_signature")) != 0 {
		t.Error("packer mark alone gave a signature match")
	}
}

// TestExePackedRealUPX packs a real binary when upx is installed.
func TestExePackedRealUPX(t *testing.T) {
	upx, err := exec.LookPath("upx")
	if err != nil {
		t.Skip("upx not installed")
	}
	bin := filepath.Join(t.TempDir(), "sleeper")
	copyWithTrailer(t, "/bin/sleep", bin, nil)
	if out, err := exec.Command(upx, "-q", bin).CombinedOutput(); err != nil {
		t.Skipf("upx cannot pack /bin/sleep: %v\n%s", err, out)
	}
	cmd := startProc(t, bin, "3600")
	out, err := checkExeSignature(context.Background(), envFor(t, liveHost(t)))
	if err != nil {
		t.Fatal(err)
	}
	if got := findingsFor(out, cmd.Process.Pid, "process.exe_packed"); len(got) != 1 || got[0].Severity != findings.Medium {
		t.Fatalf("upx-packed %s: %+v", bin, got)
	}
}

func TestExePackedSeverityByPlace(t *testing.T) {
	env := NewEnv(liveHost(t), intel.MustLoad(), nil, nil)
	tests := []struct {
		exe     string
		deleted bool
		want    findings.Severity
	}{
		{"/usr/bin/vendor-tool", false, findings.Low},
		{"/usr/lib/x/helper", false, findings.Low},
		{"/usr/bin/vendor-tool", true, findings.Medium},
		{"/usr/local/bin/tool", false, findings.Medium},
		{"/tmp/.x/sshd", false, findings.Medium},
		{"/memfd:x", false, findings.Medium},
		{"/usr/binx/tool", false, findings.Medium},
	}
	for _, tc := range tests {
		p := &process.Process{PID: 42, Exe: tc.exe, ExeDeleted: tc.deleted}
		f := exePackedFinding(env, p, &sigscanResultUPX)
		if f.Severity != tc.want || f.Rule != "process.exe_packed" || f.Evidence.PID != 42 {
			t.Errorf("%s deleted=%v: %s %v, want %v", tc.exe, tc.deleted, f.Rule, f.Severity, tc.want)
		}
	}
}

// permProc refuses to open any executable, as /proc does for another
// user's process when minerguard is not root.
type permProc struct{ host.Proc }

func (permProc) OpenExe(pid int) (host.File, error) {
	return nil, &fs.PathError{Op: "open", Path: "/proc/" + itoaT(pid) + "/exe", Err: fs.ErrPermission}
}

type permHost struct{ host.Host }

func (h permHost) Proc() host.Proc { return permProc{h.Host.Proc()} }

func TestExeUnreadableCounted(t *testing.T) {
	h := permHost{liveHost(t)}
	env := envFor(t, h)
	n := len(env.UserProcesses())
	out, err := checkExeSignature(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Rule != "scan.exe_unreadable" || out[0].Severity != findings.Info || out[0].Signal != findings.SignalStatus {
		t.Fatalf("want exactly one scan.exe_unreadable, got %+v", out)
	}
	// Processes may exit between the two reads; the count is every
	// user process that had an exe link.
	if c := out[0].Evidence.Details["count"]; c == "" || c == "0" || atoiT(c) > n {
		t.Fatalf("count %q for %d user processes", c, n)
	}
}
