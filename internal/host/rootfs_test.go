package host

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildRoot makes a root tree with links that try to escape it.
func buildRoot(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "secret")
	for _, d := range []string{"etc", "usr/bin", "usr/lib", "var/spool"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "etc/crontab"), []byte("inside\n"), 0o644))
	must(os.WriteFile(outside, []byte("OUTSIDE\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "usr/lib/libx.so"), []byte("lib\n"), 0o644))
	// Absolute link: on the host it means <root>/etc/crontab, never the real /etc.
	must(os.Symlink("/etc/crontab", filepath.Join(root, "usr/bin/abs")))
	// Relative link climbing above the root: clamped at the root.
	must(os.Symlink("../../../../../../"+outside, filepath.Join(root, "usr/bin/climb")))
	// Directory link (Debian's merged /lib -> usr/lib).
	must(os.Symlink("usr/lib", filepath.Join(root, "lib")))
	// Absolute link to the real outside file's path.
	must(os.Symlink(outside, filepath.Join(root, "etc/escape")))
	// Loop.
	must(os.Symlink("loop2", filepath.Join(root, "etc/loop1")))
	must(os.Symlink("loop1", filepath.Join(root, "etc/loop2")))
	return root, outside
}

func TestRootFSConfinesLinks(t *testing.T) {
	root, _ := buildRoot(t)
	r, err := NewRootFS(root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		want    string
		wantErr error
	}{
		{"/etc/crontab", "inside\n", nil},
		{"etc/crontab", "inside\n", nil},
		{"/usr/bin/abs", "inside\n", nil},
		{"/lib/libx.so", "lib\n", nil},
		{"/../../etc/crontab", "inside\n", nil},
		{"/usr/bin/climb", "", fs.ErrNotExist},
		{"/etc/escape", "", fs.ErrNotExist},
		{"/etc/missing", "", fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := r.ReadFile(tc.name)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ReadFile(%q) = %q, %v; want error %v", tc.name, b, err, tc.wantErr)
				}
				var pe *fs.PathError
				if errors.As(err, &pe) && filepath.IsAbs(pe.Path) && len(pe.Path) > len(root) && pe.Path[:len(root)] == root {
					t.Errorf("error names the real path %q, want the host path", pe.Path)
				}
				return
			}
			if err != nil || string(b) != tc.want {
				t.Fatalf("ReadFile(%q) = %q, %v; want %q", tc.name, b, err, tc.want)
			}
		})
	}
	if _, err := r.ReadFile("/etc/loop1"); err == nil {
		t.Error("symlink loop: want an error")
	}
	if l, err := r.Readlink("/usr/bin/abs"); err != nil || l != "/etc/crontab" {
		t.Errorf("Readlink = %q, %v", l, err)
	}
	if st, err := r.Lstat("/lib"); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(/lib) = %v, %v; want a symlink", st, err)
	}
	es, err := r.ReadDir("/lib")
	if err != nil || len(es) != 1 || es[0].Name() != "libx.so" {
		t.Errorf("ReadDir(/lib) = %v, %v", es, err)
	}
}

func TestNewRootFSErrors(t *testing.T) {
	if _, err := NewRootFS(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("missing root: want error")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRootFS(f); err == nil {
		t.Error("file as root: want error")
	}
}

// A FIFO or device in a scanned tree is refused at once, never read: an
// attacker's FIFO at /etc/ld.so.preload must not hang an offline scan.
func TestRootFSRefusesSpecialFiles(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(filepath.Join(root, "etc", "ld.so.preload")); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	r, err := NewRootFS(root)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.ReadFile("/etc/ld.so.preload")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "/etc/ld.so.preload") {
			t.Errorf("err = %v, want ErrNotRegular naming the host path", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFile blocked on a FIFO")
	}
	if _, err := r.ReadFile("/etc"); err == nil {
		t.Error("ReadFile of a directory: want an error")
	}
}
