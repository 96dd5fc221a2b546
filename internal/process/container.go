package process

import (
	"strings"
)

// Container is the container a process runs in, from its cgroup path.
type Container struct {
	// Runtime is "docker", "podman", "containerd", "cri-o", "kubernetes" or "lxc".
	Runtime string
	// ID is the full container id (64 hex digits) or, for LXC, the name.
	ID string
}

// ContainerOf returns the id of the container p runs in, or "" when it
// runs on the host (or its cgroup cannot be read). It reads
// /proc/PID/cgroup, which the container cannot forge from inside without
// already being root on the host.
func ContainerOf(p *Process) string {
	if p == nil || p.proc == nil {
		return ""
	}
	b, err := p.proc.ReadFile(p.PID, "cgroup")
	if err != nil {
		return ""
	}
	return ParseCgroup(b).ID
}

// ContainerInfo is ContainerOf with the runtime.
func ContainerInfo(p *Process) (Container, bool) {
	if p == nil || p.proc == nil {
		return Container{}, false
	}
	b, err := p.proc.ReadFile(p.PID, "cgroup")
	if err != nil {
		return Container{}, false
	}
	c := ParseCgroup(b)
	return c, c.ID != ""
}

// ParseCgroup finds the innermost container in /proc/PID/cgroup content,
// cgroup v1 ("12:memory:/docker/ID") or v2 ("0::/system.slice/docker-ID.scope").
// Known layouts:
//
//	/docker/ID, /system.slice/docker-ID.scope        docker (cgroupfs / systemd driver)
//	/machine.slice/libpod-ID.scope, /libpod_parent/libpod-ID   podman
//	/kubepods/.../podUID/ID, /kubepods.slice/...-cri-containerd-ID.scope,
//	  ...crio-ID.scope, ...docker-ID.scope under kubepods   kubernetes
//	/system.slice/containerd.service/... is containerd itself, not a container
//	/lxc/NAME, /lxc.payload.NAME                            lxc
//
// Nested containers (docker in docker) give the innermost id.
func ParseCgroup(b []byte) Container {
	var best Container
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-ID:controllers:path; the path may itself contain ':'.
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		if c := containerInPath(parts[2]); c.ID != "" {
			best = c
			if parts[0] == "0" && parts[1] == "" {
				break // the unified (v2) hierarchy is authoritative
			}
		}
	}
	return best
}

func containerInPath(p string) Container {
	var c Container
	kube := strings.Contains(p, "/kubepods")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s == "" {
			continue
		}
		s = strings.TrimSuffix(s, ".scope")
		var rt, id string
		switch {
		case cutHexID(s, "docker-", &id):
			rt = "docker"
		case cutHexID(s, "libpod-", &id) && !strings.HasPrefix(s, "libpod-conmon-"):
			rt = "podman"
		case cutHexID(s, "cri-containerd-", &id):
			rt = "containerd"
		case cutHexID(s, "crio-", &id) && !strings.HasPrefix(s, "crio-conmon-"):
			rt = "cri-o"
		case isHexID(s) && i > 0:
			// cgroupfs driver: the id is a bare directory under its
			// runtime's (docker, kubepods/.../podUID, libpod_parent).
			switch parent := segs[i-1]; {
			case parent == "docker":
				rt, id = "docker", s
			case strings.HasPrefix(parent, "pod") && kube:
				rt, id = "kubernetes", s
			case strings.HasPrefix(parent, "libpod-") || parent == "libpod_parent":
				rt, id = "podman", s
			default:
				if c.ID != "" || kube {
					rt, id = c.Runtime, s // nested under a known container
				}
			}
		case i > 0 && segs[i-1] == "lxc" && s != "":
			rt, id = "lxc", s
		case strings.HasPrefix(s, "lxc.payload."):
			rt, id = "lxc", strings.TrimPrefix(s, "lxc.payload.")
		}
		if id != "" {
			if kube && rt != "kubernetes" && c.Runtime == "" {
				// The runtime under kubelet is a detail; callers match on id.
				rt = "kubernetes/" + rt
			}
			c = Container{Runtime: rt, ID: id}
		}
	}
	return c
}

func cutHexID(s, prefix string, id *string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || !isHexID(rest) {
		return false
	}
	*id = rest
	return true
}

// isHexID reports a 64-hex-digit container id.
func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
