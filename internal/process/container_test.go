package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/minerguard/minerguard/internal/host"
)

const (
	cid  = "4f1c0a7e9b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e"
	cid2 = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
)

// cgroupCases are /proc/PID/cgroup contents as the kernel writes them.
var cgroupCases = []struct {
	name, in string
	want     Container
}{
	{"host v2", "0::/user.slice/user-1000.slice/session-3.scope\n", Container{}},
	{"host v1", "12:pids:/system.slice/ssh.service\n11:memory:/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n0::/system.slice/ssh.service\n", Container{}},
	{"dockerd itself", "0::/system.slice/docker.service\n", Container{}},
	{"containerd itself", "0::/system.slice/containerd.service\n", Container{}},
	{"docker v2 systemd driver", "0::/system.slice/docker-" + cid + ".scope\n", Container{"docker", cid}},
	{"docker v2 with systemd inside", "0::/system.slice/docker-" + cid + ".scope/init.scope\n", Container{"docker", cid}},
	{"docker v1 cgroupfs", "12:freezer:/docker/" + cid + "\n11:memory:/docker/" + cid + "\n1:name=systemd:/docker/" + cid + "\n", Container{"docker", cid}},
	{"docker in docker", "0::/docker/" + cid + "/docker/" + cid2 + "\n", Container{"docker", cid2}},
	{"podman rootful", "0::/machine.slice/libpod-" + cid + ".scope/container\n", Container{"podman", cid}},
	{"podman conmon is not the container", "0::/machine.slice/libpod-conmon-" + cid + ".scope\n", Container{}},
	{"podman rootless", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + cid + ".scope/container\n", Container{"podman", cid}},
	{"podman cgroupfs", "0::/libpod_parent/libpod-" + cid2 + "/" + cid + "\n", Container{"podman", cid}},
	{"k8s v1 cgroupfs", "11:memory:/kubepods/besteffort/pod0b5e3c5e-1f2a-4b7c-9d8e-1234567890ab/" + cid + "\n", Container{"kubernetes", cid}},
	{"k8s v2 containerd", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b5e3c5e_1f2a.slice/cri-containerd-" + cid + ".scope\n", Container{"kubernetes/containerd", cid}},
	{"k8s crio", "0::/kubepods.slice/kubepods-pod1.slice/crio-" + cid + ".scope\n", Container{"kubernetes/cri-o", cid}},
	{"k8s pod slice only", "0::/kubepods.slice/kubepods-besteffort.slice\n", Container{}},
	{"lxc v1", "4:memory:/lxc/web01\n", Container{"lxc", "web01"}},
	{"lxc v2", "0::/lxc.payload.web01/init.scope\n", Container{"lxc", "web01"}},
	{"short hex is not an id", "0::/docker/abc123\n", Container{}},
	{"upper hex is not an id", "0::/docker/" + "4F1C0A7E9B2D4C6E8F0A1B3C5D7E9F1A2B4C6D8E0F1A3B5C7D9E1F2A4B6C8D0E" + "\n", Container{}},
	{"garbage", "\x00\xff:::\n::\n", Container{}},
	{"empty", "", Container{}},
}

func TestParseCgroup(t *testing.T) {
	for _, c := range cgroupCases {
		t.Run(c.name, func(t *testing.T) {
			if got := ParseCgroup([]byte(c.in)); got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestContainerOf reads cgroup files through a /proc fixture.
func TestContainerOf(t *testing.T) {
	procDir := t.TempDir()
	write := func(pid int, cgroup string) {
		dir := filepath.Join(procDir, fmt.Sprint(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{
			"stat":    fmt.Sprintf("%d (sh) S 1 %d %d 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 100 1000 10 0\n", pid, pid, pid),
			"status":  fmt.Sprintf("Name:\tsh\nTgid:\t%d\nPPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nThreads:\t1\n", pid),
			"cmdline": "sh\x00",
		}
		if cgroup != "" {
			files["cgroup"] = cgroup
		}
		for n, c := range files {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(10, "0::/system.slice/docker-"+cid+".scope\n")
	write(11, "0::/system.slice/cron.service\n")
	write(12, "") // no cgroup file: an old kernel or a vanished process
	h, err := host.Fixture(t.TempDir(), procDir)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := Snapshot(context.Background(), h.Proc())
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{10: cid, 11: "", 12: ""}
	for pid, w := range want {
		p := tbl.Get(pid)
		if p == nil {
			t.Fatalf("pid %d not in snapshot", pid)
		}
		if got := ContainerOf(p); got != w {
			t.Errorf("ContainerOf(%d) = %q, want %q", pid, got, w)
		}
	}
	if c, ok := ContainerInfo(tbl.Get(10)); !ok || c.Runtime != "docker" {
		t.Errorf("ContainerInfo = %+v %v", c, ok)
	}
	if ContainerOf(nil) != "" {
		t.Error("nil process")
	}
}

func FuzzParseCgroup(f *testing.F) {
	for _, c := range cgroupCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := ParseCgroup([]byte(s))
		if c.ID == "" && c.Runtime != "" {
			t.Fatalf("runtime without id: %+v", c)
		}
	})
}
