package pkgdb

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/pkgdb/pkgdbtest"
	"github.com/minerguard/minerguard/internal/testkit/fstree"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	fstree.Write(t, root, files, 0o644)
}

const statusFixture = `Package: coreutils
Status: install ok installed
Architecture: amd64
Version: 9.1-1
Description: GNU core utilities
 multi-line
 .

Package: libfoo
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 1.0

Package: postgresql-common
Status: install ok installed
Architecture: all
Version: 248
Conffiles:
 /etc/postgresql-common/createcluster.conf 0123456789abcdef0123456789abcdef

Package: libpq-dev
Status: install ok installed
Architecture: amd64
Version: 15.4

Package: removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1
Conffiles:
 /etc/removed.conf 0123456789abcdef0123456789abcdef
`

func dpkgRoot(t *testing.T) string {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"bin":                              "->usr/bin",
		"usr/bin/.keep":                    "",
		"var/lib/dpkg/status":              statusFixture,
		"var/lib/dpkg/info/coreutils.list": "/.\n/bin\n/bin/ls\n/usr/bin/stat\n/usr/share/doc/coreutils/copyright\n",
		"var/lib/dpkg/info/coreutils.md5sums": "11111111111111111111111111111111  bin/ls\n" +
			"22222222222222222222222222222222  usr/bin/stat\n" +
			"33333333333333333333333333333333  usr/share/doc/coreutils/copyright\n",
		"var/lib/dpkg/info/libfoo:amd64.list":         "/usr/bin/foo\n",
		"var/lib/dpkg/info/libfoo:amd64.md5sums":      "44444444444444444444444444444444  usr/bin/foo\nnot a line\n",
		"var/lib/dpkg/info/postgresql-common.list":    "/usr/bin/pg_config\n/etc/postgresql-common/createcluster.conf\n",
		"var/lib/dpkg/info/postgresql-common.md5sums": "55555555555555555555555555555555  usr/bin/pg_config\n",
		"var/lib/dpkg/info/libpq-dev.list":            "/usr/bin/pg_config\n",
		"var/lib/dpkg/info/libpq-dev.md5sums":         "66666666666666666666666666666666  usr/bin/pg_config\n",
		"var/lib/dpkg/info/removed.list":              "/usr/bin/removed\n",
		"var/lib/dpkg/diversions":                     "/usr/bin/pg_config\n/usr/bin/pg_config.libpq-dev\npostgresql-common\n",
	})
	return root
}

func TestOpenDpkg(t *testing.T) {
	h, err := host.Offline(dpkgRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(h.FS(), []string{"/bin", "/usr/bin", "/etc"})
	if err != nil {
		t.Fatal(err)
	}
	if db.Manager != "dpkg" || len(db.Packages) != 4 {
		t.Fatalf("manager %s packages %v", db.Manager, db.Packages)
	}
	want := map[string]File{
		// /bin is a link to usr/bin: the package's /bin/ls is /usr/bin/ls.
		"/usr/bin/ls":                               {Path: "/usr/bin/ls", Package: "coreutils", Digest: "11111111111111111111111111111111", Algo: AlgoMD5},
		"/usr/bin/stat":                             {Path: "/usr/bin/stat", Package: "coreutils", Digest: "22222222222222222222222222222222", Algo: AlgoMD5},
		"/usr/bin/foo":                              {Path: "/usr/bin/foo", Package: "libfoo", Digest: "44444444444444444444444444444444", Algo: AlgoMD5},
		"/usr/bin/pg_config":                        {Path: "/usr/bin/pg_config", Package: "postgresql-common", Digest: "55555555555555555555555555555555", Algo: AlgoMD5},
		"/usr/bin/pg_config.libpq-dev":              {Path: "/usr/bin/pg_config.libpq-dev", Package: "libpq-dev", Digest: "66666666666666666666666666666666", Algo: AlgoMD5, Diverted: "/usr/bin/pg_config"},
		"/etc/postgresql-common/createcluster.conf": {Path: "/etc/postgresql-common/createcluster.conf", Package: "postgresql-common", Conffile: true},
	}
	if len(db.Files) != len(want) {
		for p, f := range db.Files {
			t.Logf("%s %+v", p, *f)
		}
		t.Fatalf("%d files, want %d", len(db.Files), len(want))
	}
	for p, w := range want {
		g, ok := db.Files[p]
		if !ok {
			t.Errorf("%s: missing", p)
			continue
		}
		// Recorded is the .md5sums mtime: set exactly when a digest is.
		if (g.Digest != "") != !g.Recorded.IsZero() {
			t.Errorf("%s: digest %q recorded at %v", p, g.Digest, g.Recorded)
		}
		got := *g
		got.Recorded = w.Recorded
		if got != w {
			t.Errorf("%s: got %+v want %+v", p, got, w)
		}
	}
	if len(db.Warnings) != 1 || !strings.Contains(db.Warnings[0], "libfoo:amd64.md5sums: 1 malformed") {
		t.Errorf("warnings %v", db.Warnings)
	}
	if db.ReinstallCommand("coreutils") != "apt-get install --reinstall coreutils" {
		t.Error(db.ReinstallCommand("coreutils"))
	}
}

func TestOpenNone(t *testing.T) {
	h, _ := host.Offline(t.TempDir())
	if _, err := Open(h.FS(), []string{"/usr/bin"}); err != ErrNoDatabase {
		t.Fatalf("err %v", err)
	}
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"var/lib/rpm/Packages": "bdb"})
	h, _ = host.Offline(root)
	if _, err := Open(h.FS(), []string{"/usr/bin"}); err == nil || !strings.Contains(err.Error(), "/var/lib/rpm/Packages: not a Berkeley DB hash database") {
		t.Fatalf("err %v", err)
	}
}

func TestParseStatusErrors(t *testing.T) {
	es, err := ParseStatus([]byte("Package: a\nStatus: install ok installed\n\nVersion: 1\n\nPackage: b\nStatus: purge ok not-installed\n"))
	if err == nil || !strings.Contains(err.Error(), "line 4 has no Package") {
		t.Fatalf("err %v", err)
	}
	if len(es) != 2 || !es[0].Installed || es[1].Installed {
		t.Fatalf("%+v", es)
	}
}

func TestParseDiversions(t *testing.T) {
	d, err := ParseDiversions([]byte("/a\n/b\n:\n/c\n"))
	if err == nil || len(d) != 1 || d[0] != (Diversion{"/a", "/b", ":"}) {
		t.Fatalf("%v %v", d, err)
	}
}

type hdrEntry = pkgdbtest.Entry

func buildHeader(entries []hdrEntry) []byte { return pkgdbtest.Header(entries) }

func hdr(tag, typ int, val any) hdrEntry { return hdrEntry{Tag: tag, Type: typ, Val: val} }

const sha256Ls = "8a4c8a1f0b7e8f6c0e5f1d2c3b4a59687766554433221100ffeeddccbbaa9988"

func procpsHeader() []byte {
	return buildHeader([]hdrEntry{
		hdr(TagName, typeString, "coreutils"),
		hdr(TagVersion, typeString, "8.32"),
		hdr(TagRelease, typeString, "34.el9"),
		hdr(TagArch, typeString, "x86_64"),
		hdr(TagFileModes, typeInt16, []uint16{0o40755, 0o100755, 0o100644, 0o120777}),
		hdr(TagFileDigests, typeStringArray, []string{"", sha256Ls, strings.Repeat("ab", 32), ""}),
		hdr(TagFileFlags, typeInt32, []uint32{0, 0, rpmFileConfig, 0}),
		hdr(TagDirIndexes, typeInt32, []uint32{0, 1, 2, 1}),
		hdr(TagBaseNames, typeStringArray, []string{"bin", "ls", "coreutils.conf", "dir"}),
		hdr(TagDirNames, typeStringArray, []string{"/usr/", "/usr/bin/", "/etc/"}),
		hdr(TagFileDigestAlgo, typeInt32, []uint32{uint32(AlgoSHA256)}),
	})
}

func TestParseHeader(t *testing.T) {
	h, err := ParseHeader(procpsHeader())
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePackage(h)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "coreutils" || p.Version != "8.32-34.el9" || p.Arch != "x86_64" || p.Algo != AlgoSHA256 || len(p.Files) != 4 {
		t.Fatalf("%+v", p)
	}
	if f := p.Files[1]; f != (RPMFile{Path: "/usr/bin/ls", Mode: 0o100755, Digest: sha256Ls}) {
		t.Fatalf("%+v", f)
	}
	if !p.Files[2].Config || p.Files[2].Path != "/etc/coreutils.conf" {
		t.Fatalf("%+v", p.Files[2])
	}
	// With the package-file magic in front it parses the same.
	if _, err := ParseHeader(append(append([]byte{}, headerMagic...), procpsHeader()...)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", []byte{0, 0, 0}, "shorter than the 8-byte preamble"},
		{"no entries", []byte{0, 0, 0, 0, 0, 0, 0, 0}, "0 index entries"},
		{"truncated", procpsHeader()[:40], "truncated"},
		{"huge count", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, "index entries"},
	} {
		if _, err := ParseHeader(bad.b); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v", bad.name, err)
		}
	}
	// A dir index past the dir names is an error, not a panic.
	h, _ = ParseHeader(buildHeader([]hdrEntry{
		hdr(TagName, typeString, "x"),
		hdr(TagDirIndexes, typeInt32, []uint32{5}),
		hdr(TagBaseNames, typeStringArray, []string{"ls"}),
		hdr(TagDirNames, typeStringArray, []string{"/usr/bin/"}),
	}))
	if _, err := ParsePackage(h); err == nil || !strings.Contains(err.Error(), "dir index 5") {
		t.Fatalf("err %v", err)
	}
}

func TestRPMSQLite(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "usr/lib/sysimage/rpm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "rpmdb.sqlite")
	pub := buildHeader([]hdrEntry{hdr(TagName, typeString, "gpg-pubkey")})
	if err := pkgdbtest.WriteRPMDB(file, procpsHeader(), pub, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)

	h, _ := host.Offline(root)
	db, err := Open(h.FS(), []string{"/usr/bin", "/etc"})
	if err != nil {
		t.Fatal(err)
	}
	if db.Manager != "rpm" || len(db.Packages) != 1 || db.Packages["coreutils"].Version != "8.32-34.el9" {
		t.Fatalf("%+v", db)
	}
	if f := db.Files["/usr/bin/ls"]; f == nil || *f != (File{Path: "/usr/bin/ls", Package: "coreutils", Digest: sha256Ls, Algo: AlgoSHA256}) {
		t.Fatalf("%+v", f)
	}
	if f := db.Files["/etc/coreutils.conf"]; f == nil || !f.Conffile {
		t.Fatalf("%+v", f)
	}
	if _, ok := db.Files["/usr/bin/dir"]; ok {
		t.Fatal("symlink kept")
	}
	if len(db.Warnings) != 1 || !strings.Contains(db.Warnings[0], "package 3") {
		t.Fatalf("warnings %v", db.Warnings)
	}
	if db.ReinstallCommand("coreutils") != "dnf reinstall coreutils" {
		t.Fatal(db.ReinstallCommand("coreutils"))
	}
	// The scanned database is untouched and nothing was left beside it.
	after, _ := os.ReadFile(file)
	es, _ := os.ReadDir(dir)
	if !bytes.Equal(before, after) || len(es) != 1 {
		t.Fatalf("rpmdb changed or files added: %v", es)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(procpsHeader())
	f.Add(buildHeader([]hdrEntry{hdr(TagName, typeString, "x")}))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		p, err := ParsePackage(h)
		if err != nil {
			return
		}
		for _, fl := range p.Files {
			_ = fl.Path
		}
	})
}

func FuzzParseDpkg(f *testing.F) {
	f.Add([]byte(statusFixture), []byte("11111111111111111111111111111111  bin/ls\n"), []byte("/a\n/b\n:\n"))
	f.Fuzz(func(t *testing.T, status, sums, divs []byte) {
		es, _ := ParseStatus(status)
		for _, e := range es {
			if e.Name == "" {
				t.Fatal("entry without name")
			}
		}
		ParseMD5Sums(sums, func(p []byte, sum string) {
			if len(sum) != 32 || len(p) < 2 || p[0] != '/' {
				t.Fatalf("bad entry %q %q", p, sum)
			}
		})
		ParseList(sums, func(p []byte) {})
		ds, _ := ParseDiversions(divs)
		for _, d := range ds {
			if d.From == "" || d.To == "" {
				t.Fatal("empty diversion")
			}
		}
	})
}
