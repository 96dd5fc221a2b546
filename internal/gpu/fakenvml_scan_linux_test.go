//go:build linux && nvml

package gpu

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNVMLScanEndToEnd runs `minerguard scan --checks gpu.usage` built with
// -tags nvml against the fake library, which reports two real processes:
// a sleep at 95% SM / 3 GiB (unexplained: gpu.busy, low) and a python3
// that maps a libtorch_cuda.so (PyTorch: gpu.ml_job, info).
func TestNVMLScanEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds minerguard")
	}
	lib := buildFakeNVML(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go toolchain not on PATH: cannot build minerguard")
	}
	sleepBin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("sleep not installed")
	}
	if real, err := filepath.EvalSymlinks(sleepBin); err == nil {
		sleepBin = real // /proc/PID/exe names the resolved file
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	mg := filepath.Join(dir, "minerguard")
	build := exec.Command(goBin, "build", "-tags", "nvml", "-o", mg, "../../cmd/minerguard")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags nvml: %v\n%s", err, b)
	}

	busy := exec.Command(sleepBin, "300")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Process.Kill(); _ = busy.Wait() })

	torchLib := filepath.Join(dir, "site-packages", "torch", "lib", "libtorch_cuda.so")
	if err := os.MkdirAll(filepath.Dir(torchLib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(torchLib, make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	ml := exec.Command(python, "-c", `import mmap, sys, time
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print("ready", flush=True)
time.sleep(300)`, torchLib)
	mlOut, err := ml.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ml.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Process.Kill(); _ = ml.Wait() })
	if line, err := bufio.NewReader(mlOut).ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("python3 did not map %s: %q %v", torchLib, line, err)
	}

	busyPID, mlPID := busy.Process.Pid, ml.Process.Pid
	scan := exec.Command(mg, "scan", "--checks", "gpu.usage", "--format", "json", "--sample", "0", "--fail-on", "none")
	scan.Env = append(os.Environ(),
		"LD_LIBRARY_PATH="+lib,
		"FAKE_NVML_DEVICES=NVIDIA H100 80GB HBM3,99,60,81559,5120",
		"FAKE_NVML_PROCS="+strconv.Itoa(busyPID)+":3072:95,"+strconv.Itoa(mlPID)+":2048:88")
	out, err := scan.Output()
	if err != nil {
		t.Fatalf("minerguard scan: %v\n%s", err, stderrOf(err))
	}
	var rep struct {
		Findings []struct {
			Rule     string `json:"rule"`
			Severity string `json:"severity"`
			Signal   string `json:"signal"`
			Evidence struct {
				PID        int               `json:"pid"`
				Exe        string            `json:"exe"`
				GPUPercent float64           `json:"gpu_percent"`
				GPUMemMiB  uint64            `json:"gpu_mem_mib"`
				GPU        string            `json:"gpu"`
				Details    map[string]string `json:"details"`
			} `json:"evidence"`
		} `json:"findings"`
		Checks []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if len(rep.Checks) != 1 || rep.Checks[0].ID != "gpu.usage" || rep.Checks[0].Status != "ok" {
		t.Fatalf("checks: %+v", rep.Checks)
	}
	var sawBusy, sawML bool
	for _, f := range rep.Findings {
		ev := f.Evidence
		switch ev.PID {
		case busyPID:
			sawBusy = true
			if f.Rule != "gpu.busy" || f.Severity != "low" || f.Signal != "resource" ||
				ev.GPUPercent != 95 || ev.GPUMemMiB != 3072 || ev.GPU != "0: NVIDIA H100 80GB HBM3" || ev.Exe != sleepBin {
				t.Errorf("sleep (pid %d): %+v", busyPID, f)
			}
		case mlPID:
			sawML = true
			if f.Rule != "gpu.ml_job" || f.Severity != "info" || f.Signal != "resource" ||
				ev.GPUPercent != 88 || ev.GPUMemMiB != 2048 || ev.Details["framework"] != "PyTorch" {
				t.Errorf("python3 (pid %d): %+v", mlPID, f)
			}
		default:
			t.Errorf("finding for a process the fake did not report: %+v", f)
		}
	}
	if !sawBusy || !sawML {
		t.Fatalf("want gpu.busy for pid %d and gpu.ml_job for pid %d; report:\n%s", busyPID, mlPID, out)
	}
}
