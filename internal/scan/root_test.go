package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/checks"
	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/scan"
)

const rootCtrID = "4f1c0a7e9b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e"

// rootFixture builds a small offline root with artefacts file checks must
// find, links that must resolve inside it, and files no check can read.
func rootFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(p, content string) {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, dst); err != nil {
			t.Fatal(err)
		}
	}
	write("/etc/hostname", "imaged-host\n")
	write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
	// The root's own /etc/shadow stands in for a preload list: if the link
	// below escaped to this machine's /etc/shadow, the finding would list
	// password hashes instead of this library.
	write("/etc/shadow", "/usr/lib/x86_64-linux-gnu/libprocesshider.so\n")
	link("/etc/ld.so.preload", "/etc/shadow")
	write("/etc/docker/daemon.json", "{\n  \"hosts\": [\"unix:///var/run/docker.sock\", \"tcp://0.0.0.0:2375\"]\n}\n")
	write("/var/lib/docker/containers/"+rootCtrID+"/config.v2.json",
		`{"ID":"`+rootCtrID+`","Name":"/sys-update","Path":"/xmrig","Args":["-o","stratum+tcp://198.51.100.7:3333","--donate-level","1"],"Config":{"Image":"xmrig/xmrig:latest"}}`)
	// A cycle (a -> b -> a) and a directory where a file is expected.
	link("/etc/kubernetes/manifests/a.yaml", "/etc/kubernetes/manifests/b.yaml")
	link("/etc/kubernetes/manifests/b.yaml", "a.yaml")
	if err := os.MkdirAll(filepath.Join(root, "etc/sysconfig/docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A FIFO would block a reader for ever.
	if runtime.GOOS == "linux" {
		if err := os.MkdirAll(filepath.Join(root, "etc/default"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := mkfifo(filepath.Join(root, "etc/default/docker")); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestScanOfflineRoot(t *testing.T) {
	root := rootFixture(t)
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := scan.Run(context.Background(), h, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Host.Live || rep.Host.Hostname != "imaged-host" || rep.Host.Processes != 0 {
		t.Fatalf("host info %+v", rep.Host)
	}

	// Every check that needs /proc is skipped, with a reason.
	status := map[string]findings.CheckRun{}
	for _, c := range rep.Checks {
		status[c.ID] = c
	}
	for _, c := range checks.All() {
		info := c.Info()
		if !info.Default {
			continue
		}
		run, ok := status[info.ID]
		if !ok {
			t.Errorf("check %s not reported", info.ID)
			continue
		}
		if info.Needs&(checks.NeedsProc|checks.NeedsCPU) != 0 {
			if run.Status != "skipped" || run.Reason == "" {
				t.Errorf("check %s on an offline root: status %q reason %q, want skipped with a reason", info.ID, run.Status, run.Reason)
			}
		} else if run.Status == "skipped" {
			t.Errorf("file check %s skipped: %s", info.ID, run.Reason)
		}
	}
	for _, id := range []string{"process.name", "network.pool", "gpu.usage", "containers.processes"} {
		if status[id].Status != "skipped" {
			t.Errorf("%s: %+v", id, status[id])
		}
	}

	// Evidence paths are host paths, never the fixture directory.
	for _, f := range rep.Findings {
		for _, p := range append([]string{f.Evidence.Path}, f.Evidence.Paths...) {
			if p != "" && (!strings.HasPrefix(p, "/") || strings.Contains(p, root)) {
				t.Errorf("%s: evidence path %q is not host-relative", f.Rule, p)
			}
		}
		if strings.Contains(f.Title+f.Description+f.Evidence.Content, root) {
			t.Errorf("%s leaks the fixture directory: %+v", f.Rule, f)
		}
	}
	find := func(rule string) *findings.Finding {
		for i := range rep.Findings {
			if rep.Findings[i].Rule == rule {
				return &rep.Findings[i]
			}
		}
		t.Errorf("no %s finding in %+v", rule, rep.Findings)
		return nil
	}
	// The absolute link /etc/ld.so.preload -> /etc/shadow resolved inside the root.
	if f := find("process.preload.file"); f != nil {
		if f.Evidence.Path != "/etc/ld.so.preload" || !slices.Equal(f.Evidence.Paths, []string{"/usr/lib/x86_64-linux-gnu/libprocesshider.so"}) {
			t.Errorf("preload evidence %+v", f.Evidence)
		}
	}
	if f := find("containers.config.docker_tcp"); f != nil {
		if f.Evidence.Path != "/etc/docker/daemon.json" || f.Evidence.Line != 2 || f.Severity != findings.High {
			t.Errorf("docker_tcp %+v", f)
		}
	}
	if f := find("containers.config.miner"); f != nil {
		if f.Evidence.Path != "/var/lib/docker/containers/"+rootCtrID+"/config.v2.json" || f.Evidence.Container != rootCtrID || f.Severity != findings.Critical {
			t.Errorf("miner container %+v", f)
		}
	}

	// The cycle and the unreadable files are warnings naming host paths.
	warn := strings.Join(rep.Warnings, "\n")
	for _, want := range []string{
		"offline root",
		"/etc/kubernetes/manifests/a.yaml",
		"too many levels of symbolic links",
		"/etc/sysconfig/docker: not a regular file",
	} {
		if !strings.Contains(warn, want) {
			t.Errorf("warnings do not mention %q:\n%s", want, warn)
		}
	}
	if runtime.GOOS == "linux" && !strings.Contains(warn, "/etc/default/docker: not a regular file") {
		t.Errorf("FIFO not reported:\n%s", warn)
	}
	if strings.Contains(warn, root) {
		t.Errorf("warnings leak the fixture directory:\n%s", warn)
	}
}

// TestScanOfflineRootUnreadable runs as a non-root user only: root reads
// mode-000 files, so there the directory-as-file case above stands in.
func TestScanOfflineRootUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read mode-000 files")
	}
	root := t.TempDir()
	p := filepath.Join(root, "etc/docker/daemon.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{"hosts":["tcp://0.0.0.0:2375"]}`), 0o000); err != nil {
		t.Fatal(err)
	}
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := scan.Run(context.Background(), h, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	warn := strings.Join(rep.Warnings, "\n")
	if !strings.Contains(warn, "/etc/docker/daemon.json") || !strings.Contains(warn, "permission denied") {
		t.Fatalf("warnings: %s", warn)
	}
}
