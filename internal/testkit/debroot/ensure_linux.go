package debroot

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Ensure returns the root of a finished Debian bookworm minbase tree,
// building it first if the cache has none. It skips the test (loudly)
// when the tree cannot be built here: not root, no debootstrap, no mirror.
// Concurrent test binaries serialise on a lock file beside the cache.
func Ensure(t testing.TB) string {
	t.Helper()
	dir := Dir()
	if ready(dir) {
		return dir
	}
	if os.Geteuid() != 0 {
		skip(t, "debootstrap needs root and %s is not built; run the tests as root once (or set MINERGUARD_DEBROOT to a built tree)", dir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		skip(t, "cache directory: %v", err)
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		skip(t, "lock: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		skip(t, "lock %s: %v", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if ready(dir) { // another test binary built it while we waited
		return dir
	}
	bin, err := lookDebootstrap()
	if err != nil {
		out, ierr := exec.Command("apt-get", "install", "-y", "-qq", "debootstrap").CombinedOutput()
		if bin, err = lookDebootstrap(); err != nil {
			skip(t, "debootstrap missing and apt-get install failed: %v\n%s", ierr, tail(out))
		}
	}
	// Build beside the cache and rename: a killed build leaves only a
	// temporary directory, never a half tree under the real name.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".build-")
	if err != nil {
		skip(t, "temp dir: %v", err)
	}
	mirror := Mirror()
	start := time.Now()
	t.Logf("debroot: building Debian %s minbase in %s from %s (once; cached)", Suite, dir, mirror)
	cmd := exec.Command(bin, "--variant=minbase", Suite, tmp, mirror)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		skip(t, "debootstrap --variant=minbase %s %s %s failed: %v\n%s", Suite, tmp, mirror, err, tail(out))
	}
	if err := os.WriteFile(filepath.Join(tmp, marker), []byte(fmt.Sprintf("%s %s %s\n", Suite, mirror, time.Now().UTC().Format(time.RFC3339))), 0o644); err != nil {
		os.RemoveAll(tmp)
		skip(t, "marker: %v", err)
	}
	os.RemoveAll(dir) // a stale, unfinished tree from an older layout
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		skip(t, "rename %s: %v", dir, err)
	}
	t.Logf("debroot: built in %s", time.Since(start).Round(time.Second))
	return dir
}

// lookDebootstrap finds debootstrap in PATH or /usr/sbin, which a
// non-login root shell's PATH may lack.
func lookDebootstrap() (string, error) {
	if p, err := exec.LookPath("debootstrap"); err == nil {
		return p, nil
	}
	return exec.LookPath("/usr/sbin/debootstrap")
}

func ready(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, marker))
	return err == nil
}

// skip skips with a message on stderr as well, so a harness that silently
// did not run is visible in CI logs, not just in -v output.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf("NO-FALSE-ALARM HARNESS NOT RUN: "+format, args...)
	fmt.Fprintln(os.Stderr, msg)
	t.Skip(msg)
}

func tail(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
