package checks

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/minerguard/minerguard/internal/findings"
)

// setInodeFlags is chattr: it sets FS_IOC_SETFLAGS on a real path.
func setInodeFlags(p string, flags uint32) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	cur, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	v := int((cur &^ (fsImmutableFL | fsAppendFL)) | flags)
	return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, v)
}

// attrRoot makes a root on a file system with inode flags: the test's
// temporary directory when it has them (ext4 /tmp), else one under the
// package directory; it skips where neither has them or we may not set
// them (CAP_LINUX_IMMUTABLE).
func attrRoot(t *testing.T) string {
	for _, base := range []string{"", "."} {
		var dir string
		if base == "" {
			dir = t.TempDir()
		} else {
			d, err := os.MkdirTemp(base, ".attrtest-")
			if err != nil {
				continue
			}
			t.Cleanup(func() { os.RemoveAll(d) })
			dir, _ = filepath.Abs(d)
		}
		probe := filepath.Join(dir, "probe")
		if err := os.WriteFile(probe, nil, 0o644); err != nil {
			continue
		}
		err := setInodeFlags(probe, fsImmutableFL)
		setInodeFlags(probe, 0)
		os.Remove(probe)
		if err == nil {
			return dir
		}
		if errors.Is(err, unix.EPERM) {
			t.Skip("not allowed to set inode flags (needs CAP_LINUX_IMMUTABLE)")
		}
	}
	t.Skip("no file system with inode flags for the test")
	return ""
}

func TestIntegrityAttributes(t *testing.T) {
	root := attrRoot(t)
	writeTree(t, root, map[string]string{
		"bin":                             "->usr/bin",
		"usr/bin/ls":                      "\x7fELF",
		"usr/bin/chattr":                  "\x7fELF",
		"usr/bin/awk":                     "->/etc/alternatives/awk",
		"etc/ld.so.preload":               "/usr/lib/libhide.so\n",
		"etc/passwd":                      "root:x:0:0::/root:/bin/sh\n",
		"etc/resolv.conf":                 "nameserver 10.0.0.2\n",
		"etc/hosts":                       "127.0.0.1 localhost\n",
		"etc/cron.d/.placeholder":         "",
		"var/spool/cron/crontabs/root":    "* * * * * /tmp/.x/kworker\n",
		"root/.ssh/authorized_keys":       "ssh-ed25519 AAAA attacker\n",
		"home/alice/.ssh/authorized_keys": "ssh-ed25519 AAAA alice\n",
	})
	set := map[string]uint32{
		"usr/bin/ls":                   fsImmutableFL,
		"etc/ld.so.preload":            fsImmutableFL,
		"etc/passwd":                   fsImmutableFL | fsAppendFL,
		"etc/resolv.conf":              fsImmutableFL,
		"etc/cron.d":                   fsImmutableFL,
		"var/spool/cron/crontabs/root": fsAppendFL,
		"root/.ssh/authorized_keys":    fsImmutableFL,
	}
	for p, fl := range set {
		real := filepath.Join(root, p)
		if err := setInodeFlags(real, fl); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		// Always clear: an immutable file outlives the test otherwise.
		t.Cleanup(func() {
			if err := setInodeFlags(real, 0); err != nil {
				t.Errorf("clearing %s: %v", real, err)
			}
		})
	}
	fs := runOn(t, fileEnv(t, root), "integrity.attributes", 0)
	var got []string
	for _, f := range fs {
		if f.Rule != "integrity.immutable_file" || f.Signal != findings.SignalIntegrity || !strings.Contains(f.Remediation, "chattr -ia "+f.Evidence.Path) {
			t.Errorf("finding %+v", f)
		}
		got = append(got, f.Severity.String()+" "+f.Evidence.Path+" "+f.Evidence.Details["flags"])
	}
	want := []string{
		"high /etc/cron.d i",
		"high /etc/ld.so.preload i",
		"medium /etc/passwd ia",
		"medium /etc/resolv.conf i",
		"high /root/.ssh/authorized_keys i",
		"medium /usr/bin/ls i",
		"high /var/spool/cron/crontabs/root a",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Cleared flags leave nothing to report.
	for p := range set {
		if err := setInodeFlags(filepath.Join(root, p), 0); err != nil {
			t.Fatal(err)
		}
	}
	if fs := runOn(t, fileEnv(t, root), "integrity.attributes", 0); len(fs) != 0 {
		t.Fatalf("after chattr -i: %+v", fs)
	}
}

func TestExpandHostGlob(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"home/a/.ssh/authorized_keys": "k",
		"home/b/.ssh/other":           "k",
		"home/c":                      "file, not a dir",
	})
	env := fileEnv(t, root)
	got := expandHostGlob(env.Host.FS(), "/home/*/.ssh/authorized_keys")
	if len(got) != 3 || got[0] != "/home/a/.ssh/authorized_keys" {
		t.Fatalf("%v", got)
	}
}
