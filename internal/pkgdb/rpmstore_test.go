package pkgdb

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
)

// rpmTestdata locates a real rpm database shipped in go-rpmdb's module.
func rpmTestdata(t *testing.T, rel string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil {
		t.Skipf("go-rpmdb module not found: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "pkg", "testdata", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s: %v", p, err)
	}
	return p
}

// TestRPMStoresAgainstGoRpmdb reads real CentOS 7 (Berkeley DB) and SLE 15
// (NDB) databases with our header parser and compares every package and
// every regular file's digest with go-rpmdb's own, independent parser.
func TestRPMStoresAgainstGoRpmdb(t *testing.T) {
	for _, rel := range []string{"centos7-plain/Packages", "sle15-bci/Packages.db"} {
		t.Run(rel, func(t *testing.T) {
			file := rpmTestdata(t, rel)
			ours, err := ReadRPMStore(file, []string{"/usr/bin", "/usr/sbin", "/usr/lib64"})
			if err != nil {
				t.Fatal(err)
			}
			if len(ours.Warnings) > 0 {
				t.Errorf("warnings: %v", ours.Warnings)
			}
			ref, err := rpmdb.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			pkgs, err := ref.ListPackages()
			if err != nil {
				t.Fatal(err)
			}
			names, files := 0, 0
			for _, p := range pkgs {
				if p.Name == "gpg-pubkey" {
					continue
				}
				names++
				got, ok := ours.Packages[p.Name]
				if !ok {
					t.Errorf("package %s missing", p.Name)
					continue
				}
				if !strings.HasPrefix(got.Version, p.Version) {
					t.Errorf("%s: version %q, go-rpmdb %q", p.Name, got.Version, p.Version)
				}
				fis, err := p.InstalledFiles()
				if err != nil {
					t.Fatal(err)
				}
				for _, fi := range fis {
					dir := filepath.Dir(fi.Path)
					if fi.Mode&0o170000 != 0o100000 || (dir != "/usr/bin" && dir != "/usr/sbin") {
						continue
					}
					f, ok := ours.Files[fi.Path]
					if !ok {
						t.Errorf("%s (%s) missing", fi.Path, p.Name)
						continue
					}
					files++
					if f.Digest != fi.Digest {
						t.Errorf("%s: digest %s, go-rpmdb %s", fi.Path, f.Digest, fi.Digest)
					}
				}
			}
			if names < 10 || files < 10 {
				t.Fatalf("only %d packages and %d files compared", names, files)
			}
			t.Logf("%d packages, %d files agree", names, files)
		})
	}
}

func TestRPMStoreCorrupt(t *testing.T) {
	file := rpmTestdata(t, "centos7-plain/Packages")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "Packages")
	// Keep the metadata page, shred the rest.
	for i := 4096; i < len(b); i += 7 {
		b[i] ^= 0xA5
	}
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := ReadRPMStore(bad, []string{"/usr/bin"})
	if err == nil && len(db.Warnings) == 0 && len(db.Packages) > 0 {
		t.Error("a shredded database read cleanly")
	}
}

func TestRPMStoreCorruptNDB(t *testing.T) {
	file := rpmTestdata(t, "sle15-bci/Packages.db")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i := 4096; i < len(b); i += 7 {
		b[i] ^= 0xA5
	}
	bad := filepath.Join(t.TempDir(), "Packages.db")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := ReadRPMStore(bad, []string{"/usr/bin"})
	if err == nil && len(db.Warnings) == 0 && len(db.Packages) > 0 {
		t.Error("a shredded database read cleanly")
	}
}

func TestReinstallCommand(t *testing.T) {
	tests := []struct{ osRelease, want string }{
		{"ID=centos\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n", "yum reinstall bash"},
		{"ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.9\"\n", "dnf reinstall bash"},
		{"ID=\"sles\"\nID_LIKE=\"suse\"\nVERSION_ID=\"15.5\"\n", "zypper install --force bash"},
		{"ID=fedora\nVERSION_ID=40\n", "dnf reinstall bash"},
		{"", "dnf reinstall bash"},
	}
	for _, tc := range tests {
		db := &DB{Manager: "rpm", rpmTool: rpmToolFor([]byte(tc.osRelease))}
		if got := db.ReinstallCommand("bash"); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.osRelease, got, tc.want)
		}
	}
	if got := (&DB{Manager: "dpkg"}).ReinstallCommand("bash"); got != "apt-get install --reinstall bash" {
		t.Errorf("dpkg: %q", got)
	}
}
