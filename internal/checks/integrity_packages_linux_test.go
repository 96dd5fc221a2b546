package checks

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
)

// minbaseRoot copies the Debian minbase part of this machine (Priority:
// required packages and apt) into a root: their dpkg records and their files
// in the verified directories, merged-/usr links as on the host. It stands
// for a freshly debootstrapped minbase system.
func minbaseRoot(t testing.TB) string {
	t.Helper()
	st, err := os.Open("/var/lib/dpkg/status")
	if err != nil {
		t.Skip("not a dpkg system")
	}
	defer st.Close()
	root := t.TempDir()
	var status strings.Builder
	var stanza []string
	keep := false
	var pkgs []string
	flush := func() {
		if keep {
			status.WriteString(strings.Join(stanza, "\n") + "\n\n")
		}
		stanza, keep = nil, false
	}
	sc := bufio.NewScanner(st)
	sc.Buffer(nil, 1<<20)
	name := ""
	for sc.Scan() {
		l := sc.Text()
		if l == "" {
			flush()
			continue
		}
		stanza = append(stanza, l)
		if n, ok := strings.CutPrefix(l, "Package: "); ok {
			name = n
			keep = keep || name == "apt" || strings.HasPrefix(name, "libapt-pkg")
			if keep {
				pkgs = append(pkgs, name)
			}
		}
		if l == "Priority: required" && !keep {
			keep = true
			pkgs = append(pkgs, name)
		}
	}
	flush()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "var/lib/dpkg/info"), 0o755))
	must(os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(status.String()), 0o644))
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if tgt, err := os.Readlink("/" + l); err == nil {
			must(os.Symlink(tgt, filepath.Join(root, l)))
		}
	}
	copyFile := func(src, dst string) {
		in, err := os.Open(src)
		if err != nil {
			return
		}
		defer in.Close()
		must(os.MkdirAll(filepath.Dir(dst), 0o755))
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		must(err)
		_, err = io.Copy(out, in)
		must(err)
		must(out.Close())
	}
	for _, pkg := range pkgs {
		matches, _ := filepath.Glob("/var/lib/dpkg/info/" + pkg + "*.list")
		for _, lf := range matches {
			stem := strings.TrimSuffix(filepath.Base(lf), ".list")
			if stem != pkg && !strings.HasPrefix(stem, pkg+":") {
				continue
			}
			copyFile(lf, filepath.Join(root, "var/lib/dpkg/info", stem+".list"))
			copyFile("/var/lib/dpkg/info/"+stem+".md5sums", filepath.Join(root, "var/lib/dpkg/info", stem+".md5sums"))
			b, _ := os.ReadFile(lf)
			for _, p := range strings.Split(string(b), "\n") {
				real, err := filepath.EvalSymlinks(p)
				if err != nil {
					continue
				}
				if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
					continue
				}
				for _, d := range []string{"/usr/bin/", "/usr/sbin/", "/usr/lib/systemd/", "/usr/libexec/", "/usr/local/bin/"} {
					if strings.HasPrefix(real, d) {
						copyFile(real, filepath.Join(root, real))
					}
				}
			}
		}
	}
	return root
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIntegrityPackagesMinbaseBudget holds the check to its budget: a
// Debian minbase tree verified in well under 2 s on 2 cores. CPU time is
// measured (wall time on a shared CI host says little), after one run
// that warms the page cache.
func TestIntegrityPackagesMinbaseBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	root := minbaseRoot(t)
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(h, intel.MustLoad(), nil, nil)
	c, _ := Lookup("integrity.packages")
	if _, err := c.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	cpu0, wall0 := cpuTime(), time.Now()
	fs, err := c.Run(context.Background(), env)
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	if err != nil {
		t.Fatal(err)
	}
	var files, size int64
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !strings.Contains(p, "/var/lib/dpkg") {
			files, size = files+1, size+fi.Size()
		}
		return nil
	})
	t.Logf("minbase: %d files, %d MiB verified in %v CPU, %v wall", files, size>>20, cpu, wall)
	if files < 100 {
		t.Fatalf("minbase tree has only %d files", files)
	}
	// An unmodified system gives nothing but the checks' info notes.
	for _, f := range fs {
		if f.Severity > findings.Info {
			t.Errorf("%s %s %s", f.Rule, f.Severity, f.Evidence.Path)
		}
	}
	if cpu > time.Second {
		t.Fatalf("verification used %v CPU, budget 1s", cpu)
	}
}

func BenchmarkIntegrityPackagesMinbase(b *testing.B) {
	h, err := host.Offline(minbaseRoot(b))
	if err != nil {
		b.Fatal(err)
	}
	env := NewEnv(h, intel.MustLoad(), nil, nil)
	c, _ := Lookup("integrity.packages")
	for b.Loop() {
		if _, err := c.Run(context.Background(), env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIntegrityPackagesLive(b *testing.B) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		b.Skip("not a dpkg system")
	}
	h, _ := host.Live()
	env := NewEnv(h, intel.MustLoad(), nil, nil)
	c, _ := Lookup("integrity.packages")
	for b.Loop() {
		if _, err := c.Run(context.Background(), env); err != nil {
			b.Fatal(err)
		}
	}
}
