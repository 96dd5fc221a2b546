package checks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/process"
)

// ctrProcEnv builds a host whose /proc holds one process per pid with
// the given /proc/PID/cgroup content ("" writes no cgroup file).
func ctrProcEnv(t *testing.T, cgroups map[int]string) *Env {
	t.Helper()
	procDir := t.TempDir()
	for pid, cg := range cgroups {
		dir := filepath.Join(procDir, fmt.Sprint(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{
			"stat":    fmt.Sprintf("%d (p%d) S 1 %d %d 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 100 1000 10 0\n", pid, pid, pid, pid),
			"status":  fmt.Sprintf("Name:\tp%d\nTgid:\t%d\nPPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nThreads:\t1\n", pid, pid),
			"cmdline": fmt.Sprintf("/bin/p%d\x00", pid),
		}
		if cg != "" {
			files["cgroup"] = cg
		}
		for n, c := range files {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	h, err := host.Fixture(t.TempDir(), procDir)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := process.Snapshot(context.Background(), h.Proc())
	if err != nil {
		t.Fatal(err)
	}
	return NewEnv(h, intel.MustLoad(), tbl, nil)
}

func TestContainerProcesses(t *testing.T) {
	k8sID := ctrID2[:60] + "abcd"
	env := ctrProcEnv(t, map[int]string{
		100: "0::/system.slice/cron.service\n",
		101: "", // no cgroup file (vanished, or an old kernel)
		200: "0::/system.slice/docker-" + ctrID + ".scope\n",
		201: "0::/system.slice/docker-" + ctrID + ".scope\n",
		300: "12:memory:/docker/" + ctrID2 + "\n1:name=systemd:/docker/" + ctrID2 + "\n",
		400: "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + k8sID + ".scope\n",
	})
	got := idRun(t, env, "containers.processes")[0]
	if len(got) != 1 {
		t.Fatalf("want one summary, got %+v", got)
	}
	f := got[0]
	if f.Rule != "containers.processes.summary" || f.Severity != findings.Info || f.Signal != findings.SignalStatus || f.Title != "4 processes run in 3 containers" {
		t.Fatalf("bad finding %+v", f)
	}
	wantDetails := map[string]string{"processes": "4", "containers": "3", "runtime.docker": "2", "runtime.kubernetes/containerd": "1"}
	if !reflect.DeepEqual(f.Evidence.Details, wantDetails) {
		t.Fatalf("details %v, want %v", f.Evidence.Details, wantDetails)
	}
	wantMatch := []string{"docker " + ctrID[:12] + ": 2", "docker " + ctrID2[:12] + ": 1", "kubernetes/containerd " + k8sID[:12] + ": 1"}
	if !reflect.DeepEqual(f.Evidence.Match, wantMatch) {
		t.Fatalf("match %q, want %q", f.Evidence.Match, wantMatch)
	}
	if got := process.ContainerOf(env.Procs.Get(300)); got != ctrID2 {
		t.Fatalf("ContainerOf(300) = %q", got)
	}

	// No process in a container: no finding at all.
	env = ctrProcEnv(t, map[int]string{100: "0::/system.slice/cron.service\n", 101: "0::/system.slice/docker.service\n"})
	if got := idRun(t, env, "containers.processes"); len(got) != 0 {
		t.Fatalf("findings without containers: %+v", got)
	}
}
