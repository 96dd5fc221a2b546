package checks

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/gpu"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/process"
)

func readMapsFixture(t *testing.T, name string) []string {
	t.Helper()
	if name == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join("testdata/gpu_usage", name))
	if err != nil {
		t.Fatal(err)
	}
	return process.ParseMapsPaths(b)
}

func TestDecideGPU(t *testing.T) {
	db := intel.MustLoad()
	tests := []struct {
		name     string
		maps     string
		util     int
		mem      uint64
		wantOK   bool
		wantRule string
		wantSev  findings.Severity
		wantFW   string
	}{
		{"python3 with libtorch_cuda at full load", "python3_torch.maps", 99, 30 << 30, true, "gpu.ml_job", findings.Info, "PyTorch"},
		{"python3 with libtorch_cuda idle", "python3_torch.maps", 0, 500 << 20, true, "gpu.ml_job", findings.Info, "PyTorch"},
		{"unknown binary at 95%", "unknown_bin.maps", 95, 300 << 20, true, "gpu.busy", findings.Low, ""},
		{"unknown binary at the threshold", "unknown_bin.maps", 50, 0, true, "gpu.busy", findings.Low, ""},
		{"unknown binary below threshold", "unknown_bin.maps", 49, 100 << 20, false, "", 0, ""},
		{"unknown binary holding 1 GiB", "unknown_bin.maps", gpu.Unknown, 1 << 30, true, "gpu.busy", findings.Low, ""},
		{"unknown binary, utilisation unknown, little memory", "unknown_bin.maps", gpu.Unknown, 64 << 20, false, "", 0, ""},
		// Miner names are other checks' job: here it is load like any other.
		{"xmrig with cuda plugin at 100%", "xmrig.maps", 100, 2 << 30, true, "gpu.busy", findings.Low, ""},
		{"process maps unreadable", "", 95, 0, true, "gpu.busy", findings.Low, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := decideGPU(db, readMapsFixture(t, tc.maps), gpu.Usage{PID: 1, Util: tc.util, MemoryBytes: tc.mem})
			if ok != tc.wantOK || d.Rule != tc.wantRule || d.Severity != tc.wantSev || d.Framework != tc.wantFW {
				t.Fatalf("got %+v ok=%v, want rule %q sev %v fw %q ok=%v", d, ok, tc.wantRule, tc.wantSev, tc.wantFW, tc.wantOK)
			}
		})
	}
}

// TestGPUNoDriverLive runs the check on this host for real: without a
// driver it is skipped with exactly one info status finding.
func TestGPUNoDriverLive(t *testing.T) {
	h := liveHost(t)
	if d := gpu.DetectDriver(h); d.Present {
		t.Skipf("an NVIDIA driver is present (%s)", d.Version)
	}
	if _, err := gpu.Query(); err == nil {
		t.Skip("NVML works here")
	}
	out, err := checkGPU(context.Background(), envFor(t, h))
	if !errors.Is(err, ErrSkipped) {
		t.Fatalf("err %v, want skipped", err)
	}
	if len(out) != 1 {
		t.Fatalf("want one finding, got %+v", out)
	}
	f := out[0]
	if f.Rule != "gpu.unavailable" || f.Severity != findings.Info || f.Signal != findings.SignalStatus || f.Evidence.PID != 0 {
		t.Fatalf("finding %+v", f)
	}
	if !strings.Contains(f.Description, "No NVIDIA kernel driver") {
		t.Errorf("description %q", f.Description)
	}
}

// TestGPUDriverPresentNoLibrary: driver nodes but NVML missing still
// gives one status finding, naming the driver.
func TestGPUDriverPresentNoLibrary(t *testing.T) {
	drv := gpu.Driver{Present: true, Version: "NVRM version: 550.54.15", Nodes: []string{"/dev/nvidia0"}}
	f := gpuUnavailable(drv, &gpu.NoDriverError{Reason: "libnvidia-ml.so.1: cannot open shared object file"})
	if f.Rule != "gpu.unavailable" || !strings.Contains(f.Description, "550.54.15") || f.Evidence.Details["driver"] != drv.Version || len(f.Evidence.Paths) != 1 {
		t.Fatalf("%+v", f)
	}
}

// TestGPUWithFakeDriver plays NVML (env.GPU) over real processes: a
// python3 mapping a file named libtorch_cuda.so, an unexplained busy
// process, a light one, and a pid not in the process table.
func TestGPUWithFakeDriver(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "site-packages", "torch", "lib", "libtorch_cuda.so")
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	script := `import mmap, sys, time
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
open(sys.argv[2], "w").close()
time.sleep(3600)
`
	ml := exec.Command(py, "-c", script, lib, ready)
	if err := ml.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ml.Process.Kill(); ml.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if i > 500 {
			t.Fatal("python3 never mapped the library")
		}
		time.Sleep(10 * time.Millisecond)
	}
	busy := startProc(t, "/bin/sleep", "3600")
	light := startProc(t, "/bin/sleep", "3601")
	const ghost = 1 << 22 // above any pid_max default: not in the table

	env := envFor(t, liveHost(t))
	env.GPU = func() ([]gpu.Device, error) {
		return []gpu.Device{{Index: 0, Name: "NVIDIA H100 80GB HBM3", Processes: []gpu.Process{
			{PID: ml.Process.Pid, MemoryBytes: 40 << 30, MemoryKnown: true, SMUtil: 98},
			{PID: busy.Process.Pid, MemoryBytes: 300 << 20, MemoryKnown: true, SMUtil: 95},
			{PID: light.Process.Pid, MemoryBytes: 100 << 20, MemoryKnown: true, SMUtil: 3},
			{PID: ghost, MemoryBytes: 2 << 30, MemoryKnown: true, SMUtil: gpu.Unknown},
		}}}, nil
	}
	out, err := checkGPU(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]struct {
		rule string
		sev  findings.Severity
	}{
		ml.Process.Pid:   {"gpu.ml_job", findings.Info},
		busy.Process.Pid: {"gpu.busy", findings.Low},
		ghost:            {"gpu.busy", findings.Low},
	}
	if len(out) != len(want) {
		t.Fatalf("want %d findings, got %+v", len(want), out)
	}
	for _, f := range out {
		w, ok := want[f.Evidence.PID]
		if !ok || f.Rule != w.rule || f.Severity != w.sev || f.Signal != findings.SignalResource {
			t.Errorf("pid %d: %s %v %s", f.Evidence.PID, f.Rule, f.Severity, f.Signal)
		}
		switch f.Evidence.PID {
		case ml.Process.Pid:
			if f.Evidence.Details["framework"] != "PyTorch" || f.Evidence.GPUMemMiB != 40<<10 || f.Evidence.GPUPercent != 98 {
				t.Errorf("ml job evidence %+v", f.Evidence)
			}
		case busy.Process.Pid:
			if f.Evidence.GPUPercent != 95 || f.Evidence.GPUMemMiB != 300 || f.Evidence.GPU != "0: NVIDIA H100 80GB HBM3" || f.Evidence.Exe != "/usr/bin/sleep" && f.Evidence.Exe != "/bin/sleep" {
				t.Errorf("busy evidence %+v", f.Evidence)
			}
		case ghost:
			if f.Evidence.GPUPercent != 0 || f.Evidence.GPUMemMiB != 2048 || !strings.Contains(f.Title, "pid 4194304") || !strings.Contains(f.Title, "utilisation unknown") {
				t.Errorf("ghost evidence %+v %q", f.Evidence, f.Title)
			}
		}
	}
}

// TestGPUHoldersWithoutNVML: the default static build has no NVML, so GPU
// users are found by the compute device nodes they hold open.
func TestGPUHoldersWithoutNVML(t *testing.T) {
	noNVML := func() ([]gpu.Device, error) { return nil, &gpu.NoDriverError{Reason: "static build"} }
	tests := []struct {
		name  string
		nodes []string // device nodes on the host
		procs []fakeProc
		want  map[int]string // pid -> rule
	}{
		{
			name:  "miner and training job on nvidia, desktop on dri card",
			nodes: []string{"dev/nvidia0", "dev/nvidia1", "dev/nvidiactl", "dev/kfd", "dev/dri/card0", "dev/dri/renderD128"},
			procs: []fakeProc{
				{pid: 100, comm: "kthreadd-x", cmdline: []string{"/tmp/.x/k"}, exe: "/tmp/.x/k", fds: []string{"/dev/nvidiactl", "/dev/nvidia0", "/dev/nvidia-uvm", "socket:[77]"}},
				{pid: 200, comm: "python3", cmdline: []string{"python3", "train.py"}, exe: "/usr/bin/python3.11", fds: []string{"/dev/nvidia1", "/dev/nvidia0"},
					maps: []string{"/opt/venv/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so"}},
				{pid: 300, comm: "Xorg", cmdline: []string{"/usr/lib/xorg/Xorg"}, exe: "/usr/lib/xorg/Xorg", fds: []string{"/dev/dri/card0", "/dev/tty7"}},
				{pid: 400, comm: "rocm-job", cmdline: []string{"./job"}, exe: "/srv/job", fds: []string{"/dev/kfd", "/dev/dri/renderD128"}},
			},
			want: map[int]string{100: "gpu.holder", 200: "gpu.ml_job", 400: "gpu.holder"},
		},
		{name: "no device nodes on the host: fd tables are not read", procs: []fakeProc{
			{pid: 100, comm: "k", cmdline: []string{"/tmp/.x/k"}, exe: "/tmp/.x/k", fds: []string{"/dev/nvidia0"}}}, want: map[int]string{}},
		{name: "no holders, no driver", procs: []fakeProc{{pid: 10, comm: "sleep", cmdline: []string{"sleep"}, exe: "/bin/sleep"}}, want: map[int]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, n := range tc.nodes {
				if err := os.MkdirAll(filepath.Join(root, filepath.Dir(n)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, n), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			env := procFixture(t, root, tc.procs)
			env.GPU = noNVML
			out, err := checkGPU(context.Background(), env)
			got := map[int]string{}
			status := 0
			for _, f := range out {
				if f.Rule == "gpu.unavailable" {
					status++
					continue
				}
				got[f.Evidence.PID] = f.Rule
				wantSev := findings.Low
				if f.Rule == "gpu.ml_job" {
					wantSev = findings.Info
				}
				if f.Severity != wantSev || f.Signal != findings.SignalResource || len(f.Evidence.Paths) == 0 {
					t.Errorf("pid %d: %s %s %s paths %v", f.Evidence.PID, f.Rule, f.Severity, f.Signal, f.Evidence.Paths)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for pid, rule := range tc.want {
				if got[pid] != rule {
					t.Errorf("pid %d: rule %q, want %q", pid, got[pid], rule)
				}
			}
			if len(tc.want) == 0 {
				if !errors.Is(err, ErrSkipped) || status != 1 {
					t.Errorf("no driver, no holders: err %v, %d status findings; want skipped with one", err, status)
				}
			} else if err != nil || status != 1 {
				t.Errorf("holders: err %v, %d status findings; want ok with one gpu.unavailable", err, status)
			}
		})
	}
}
