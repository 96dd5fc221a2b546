//go:build linux

package respond_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/testkit/fstree"
)

// mount runs mount(8) and undoes it at cleanup; the test is skipped where
// mounting is not allowed (an unprivileged container).
func mount(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Skipf("mount %v: %v %s", args, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", args[len(args)-1]).Run() })
}

// noRuns says that a refused apply left no journal behind.
func noRuns(t *testing.T, state string) {
	t.Helper()
	if es, _ := filepath.Glob(filepath.Join(state, "runs", "*")); len(es) > 0 {
		t.Errorf("a refused apply created runs: %v", es)
	}
}

// TestRefusals: apply refuses, with a clear reason and no change at all, a
// plan touching packaged files, a read-only root, a vault without room,
// and undo refuses a journal from another host.
func TestRefusals(t *testing.T) {
	needRoot(t)
	t.Run("package-owned file", func(t *testing.T) {
		root, state := t.TempDir(), t.TempDir()
		t.Cleanup(func() { clearFlags(root) })
		writeInfected(t, root)
		fstree.Write(t, root, map[string]string{
			"lib/systemd/system/sysupdate.service": "[Service]\nExecStart=/tmp/.x/kworkerds\nRestart=always\n[Install]\nWantedBy=multi-user.target\n",
			"var/lib/dpkg/status":                  "Package: sysupdate\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n",
			"var/lib/dpkg/info/sysupdate.list":     "/lib\n/lib/systemd\n/lib/systemd/system\n/lib/systemd/system/sysupdate.service\n",
			"var/lib/dpkg/info/sysupdate.md5sums":  "0123456789abcdef0123456789abcdef  lib/systemd/system/sysupdate.service\n",
		}, 0)
		before := fstree.Snapshot(t, root)
		out, code := run(t, "clean", "--root", root, "--state-dir", state, "--apply", "--yes")
		if code != 2 || !strings.Contains(out, "/lib/systemd/system/sysupdate.service (package sysupdate") || !strings.Contains(out, "apt-get install --reinstall sysupdate") {
			t.Fatalf("want a refusal naming the file, package and reinstall command; exit %d\n%s", code, out)
		}
		if d := fstree.Diff(before, fstree.Snapshot(t, root)); len(d) > 0 {
			t.Fatalf("refused plan changed the tree:\n%s", strings.Join(d, "\n"))
		}
		noRuns(t, state)
		if out, code := run(t, "clean", "--root", root, "--state-dir", state, "--apply", "--yes", "--allow-package-files"); code != 0 {
			t.Fatalf("with --allow-package-files: exit %d\n%s", code, out)
		}
		if _, err := os.Lstat(filepath.Join(root, "lib/systemd/system/sysupdate.service")); err == nil {
			t.Error("the packaged unit was not quarantined with --allow-package-files")
		}
	})
	t.Run("read-only root", func(t *testing.T) {
		root, state, ro := t.TempDir(), t.TempDir(), t.TempDir()
		t.Cleanup(func() { clearFlags(root) })
		writeInfected(t, root)
		mount(t, "--bind", root, ro)
		mount(t, "-o", "remount,bind,ro", ro)
		before := fstree.Snapshot(t, root)
		out, code := run(t, "clean", "--root", ro, "--state-dir", state, "--apply", "--yes")
		if code != 2 || !strings.Contains(out, "read-only") || !strings.Contains(out, "nothing was changed") {
			t.Fatalf("want a read-only refusal; exit %d\n%s", code, out)
		}
		if d := fstree.Diff(before, fstree.Snapshot(t, root)); len(d) > 0 {
			t.Fatalf("changed:\n%s", strings.Join(d, "\n"))
		}
		noRuns(t, state)
	})
	t.Run("full disk", func(t *testing.T) {
		root, state := t.TempDir(), t.TempDir()
		t.Cleanup(func() { clearFlags(root) })
		writeInfected(t, root)
		// A miner big enough that it and the safety margin do not fit.
		big := make([]byte, 3<<20)
		copy(big, minerELF)
		if err := os.WriteFile(filepath.Join(root, "tmp/.x/kworkerds"), big, 0o755); err != nil {
			t.Fatal(err)
		}
		mount(t, "-t", "tmpfs", "-o", "size=18m", "tmpfs", state)
		before := fstree.Snapshot(t, root)
		out, code := run(t, "clean", "--root", root, "--state-dir", state, "--apply", "--yes")
		if code != 2 || !strings.Contains(out, "not enough free space") {
			t.Fatalf("want a space refusal; exit %d\n%s", code, out)
		}
		if d := fstree.Diff(before, fstree.Snapshot(t, root)); len(d) > 0 {
			t.Fatalf("changed:\n%s", strings.Join(d, "\n"))
		}
		noRuns(t, state)
	})
	t.Run("journal of another host", func(t *testing.T) {
		root, state := t.TempDir(), t.TempDir()
		t.Cleanup(func() { clearFlags(root) })
		writeInfected(t, root)
		if out, code := run(t, "clean", "--root", root, "--state-dir", state, "--apply", "--yes"); code != 0 {
			t.Fatalf("clean: exit %d\n%s", code, out)
		}
		// The same journal offered for a different machine's disk.
		other := t.TempDir()
		t.Cleanup(func() { clearFlags(other) })
		writeInfected(t, other)
		if err := os.WriteFile(filepath.Join(other, "etc/machine-id"), []byte("00000000000000000000000000000001\n"), 0o444); err != nil {
			t.Fatal(err)
		}
		before := fstree.Snapshot(t, other)
		out, code := run(t, "undo", "--root", other, "--state-dir", state)
		if code != 2 || !strings.Contains(out, "another host") {
			t.Fatalf("want another-host refusal; exit %d\n%s", code, out)
		}
		if d := fstree.Diff(before, fstree.Snapshot(t, other)); len(d) > 0 {
			t.Fatalf("changed:\n%s", strings.Join(d, "\n"))
		}
		if out, code := run(t, "undo", "--root", root, "--state-dir", state); code != 0 {
			t.Fatalf("undo on its own host: exit %d\n%s", code, out)
		}
	})
}
