package pkgdb

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/pkgdb/pkgdbtest"
)

// rpmRoot builds a root holding a database from go-rpmdb's testdata at
// dst, with an os-release; it skips when the module's testdata is absent.
func rpmRoot(t *testing.T, src, dst, osRelease string) host.FS {
	t.Helper()
	p, err := pkgdbtest.GoRPMDBTestdata(src)
	if err != nil {
		t.Skipf("no real rpmdb to read: %v", err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	files := map[string]string{dst: string(b)}
	if osRelease != "" {
		files["etc/os-release"] = osRelease
	}
	writeFiles(t, root, files)
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	return h.FS()
}

func TestOpenRPMStores(t *testing.T) {
	type want struct {
		path, pkg, version, arch, digest string
		algo                             Algo
		conffile                         bool
	}
	for _, tc := range []struct {
		name, src, dst, osRelease string
		packages                  int
		tool, reinstall           string
		files                     []want
	}{
		{
			name: "centos7 bdb", src: "centos7-plain/Packages", dst: "var/lib/rpm/Packages",
			osRelease: "NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n",
			packages:  144, tool: "yum", reinstall: "yum reinstall bash",
			files: []want{
				{"/usr/bin/bash", "bash", "4.2.46-30.el7", "x86_64", "2f83ab3f0ee1257ff84dc3f80f9324edb1175df3ddfd7fe8ef0c968496f27b5d", AlgoSHA256, false},
				{"/usr/bin/ls", "coreutils", "8.22-21.el7", "x86_64", "77e348ce10471cf7c335a2bd5897ac858f9a2d1e8fdd419b9cf78cc0e64b38a0", AlgoSHA256, false},
				{"/etc/passwd", "setup", "2.8.71-9.el7", "noarch", "da48b9f08e861546a980206889b7282fccda236f83a25e1b58de6fc5f1f361bd", AlgoSHA256, true},
			},
		},
		{
			name: "centos8 bdb", src: "centos8-modularitylabel/Packages", dst: "var/lib/rpm/Packages",
			osRelease: "ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"8\"\n",
			packages:  517, tool: "dnf", reinstall: "dnf reinstall bash",
			files: []want{
				{"/usr/bin/ls", "coreutils-single", "8.30-7.el8_2.1", "x86_64", "309b3c9a3246361ec0338641aed3c14e7f91e23e7cf10de000c75135ba99fddd", AlgoSHA256, false},
				{"/usr/bin/rpm", "rpm", "4.14.2-37.el8", "x86_64", "83f359b04cf6c0de3e03e11dd177f3d4cf9d7e517490c4db4a4946779159c1e6", AlgoSHA256, false},
			},
		},
		{
			name: "centos5 bdb md5, no os-release", src: "centos5-plain/Packages", dst: "var/lib/rpm/Packages",
			packages: 110, tool: "dnf", reinstall: "dnf reinstall bash",
			files: []want{
				{"/etc/passwd", "setup", "2.5.58-9.el5", "noarch", "b4936b3216c0a2655fc4abedcefbdbd4", AlgoMD5, true},
			},
		},
		{
			name: "sle15 ndb", src: "sle15-bci/Packages.db", dst: "usr/lib/sysimage/rpm/Packages.db",
			osRelease: "NAME=\"SLES\"\nVERSION_ID=\"15.3\"\nID=\"sles\"\nID_LIKE=\"suse\"\n",
			packages:  35, tool: "zypper", reinstall: "zypper install --force bash",
			files: []want{
				{"/usr/bin/ls", "coreutils", "8.32-3.2.1", "x86_64", "36f8f7d4c89dd0cd0cc209cf84bc1019beabf278b1e0633f0ea420d3bd47ba87", AlgoSHA256, false},
				{"/usr/bin/rpm", "rpm-ndb", "4.14.3-40.1", "x86_64", "576109608dec63dbd99bcd10b5ec2483d273c045a928ff728a3beda0cdc4a989", AlgoSHA256, false},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := rpmRoot(t, tc.src, tc.dst, tc.osRelease)
			before, _ := fsys.ReadFile("/" + tc.dst)
			db, err := Open(fsys, []string{"/usr/bin", "/etc"})
			if err != nil {
				t.Fatal(err)
			}
			if db.Manager != "rpm" || db.Tool != tc.tool || len(db.Packages) != tc.packages || len(db.Warnings) != 0 {
				t.Fatalf("manager %q tool %q packages %d warnings %v", db.Manager, db.Tool, len(db.Packages), db.Warnings)
			}
			if got := db.ReinstallCommand("bash"); got != tc.reinstall {
				t.Errorf("reinstall %q", got)
			}
			if _, ok := db.Packages["gpg-pubkey"]; ok {
				t.Error("gpg-pubkey kept")
			}
			for _, w := range tc.files {
				f := db.Files[w.path]
				if f == nil {
					t.Errorf("%s not in the database", w.path)
					continue
				}
				p := db.Packages[f.Package]
				if f.Package != w.pkg || p.Version != w.version || p.Arch != w.arch || f.Digest != w.digest || f.Algo != w.algo || f.Conffile != w.conffile {
					t.Errorf("%s: %+v %+v", w.path, f, p)
				}
			}
			for p := range db.Files {
				if !strings.HasPrefix(p, "/usr/bin/") && !strings.HasPrefix(p, "/etc/") {
					t.Errorf("file %s outside the selected dirs", p)
				}
			}
			after, _ := fsys.ReadFile("/" + tc.dst)
			if !bytes.Equal(before, after) {
				t.Error("database changed by reading")
			}
		})
	}
}

func TestOpenRPMStoreNoTempLeft(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"var/lib/rpm/Packages": string(pkgdbtest.BerkeleyDB(512, procpsHeader()))})
	h, _ := host.Offline(root)
	db, err := Open(h.FS(), []string{"/usr/bin"})
	if err != nil || db.Files["/usr/bin/ls"] == nil || db.Files["/usr/bin/ls"].Digest != sha256Ls {
		t.Fatalf("%v %+v", err, db)
	}
	if es, _ := os.ReadDir(tmp); len(es) != 0 {
		t.Fatalf("copy left behind: %v", es)
	}
}

func TestRPMStoreSynthetic(t *testing.T) {
	big := buildHeader([]hdrEntry{
		hdr(TagName, typeString, "big"),
		hdr(TagVersion, typeString, strings.Repeat("9", 3000)), // spans many 512-byte pages
	})
	for _, tc := range []struct {
		name string
		data []byte
		read func(io.ReaderAt, int64, func(int, []byte)) ([]string, error)
	}{
		{"bdb", pkgdbtest.BerkeleyDB(512, procpsHeader(), big), readBerkeley},
		{"bdb 4k", pkgdbtest.BerkeleyDB(4096, procpsHeader(), big), readBerkeley},
		{"ndb", pkgdbtest.NDB(procpsHeader(), big), readNDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]byte
			warns, err := tc.read(bytes.NewReader(tc.data), int64(len(tc.data)), func(_ int, b []byte) { got = append(got, b) })
			if err != nil || len(warns) != 0 || len(got) != 2 || !bytes.Equal(got[0], procpsHeader()) || !bytes.Equal(got[1], big) {
				t.Fatalf("err %v warnings %v got %d blobs", err, warns, len(got))
			}
		})
	}
}

func TestRPMStoreDamaged(t *testing.T) {
	le := func(b []byte, off int, v uint32) []byte {
		b = bytes.Clone(b)
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		return b
	}
	bdbOK := pkgdbtest.BerkeleyDB(512, procpsHeader())
	ndbOK := pkgdbtest.NDB(procpsHeader())
	for _, tc := range []struct {
		name      string
		data      []byte
		read      func(io.ReaderAt, int64, func(int, []byte)) ([]string, error)
		err, warn string
	}{
		{"bdb empty", nil, readBerkeley, "not a Berkeley DB hash database: 0 bytes", ""},
		{"bdb not hash", bytes.Repeat([]byte{1}, 1024), readBerkeley, "not a Berkeley DB", ""},
		{"bdb page size", le(bdbOK, 20, 1000), readBerkeley, "page size 1000", ""},
		{"bdb truncated", bdbOK[:512*2], readBerkeley, "", "beyond the file"},
		// the value's overflow page is empty and points back at itself
		{"bdb cycle", le(le(bdbOK, 2*512+16, 2), 2*512+20, 1), readBerkeley, "", "cyclic"},
		{"bdb chain loops", le(bdbOK, 2*512+16, 2), readBerkeley, "", "overflow page 2 cyclic"},
		{"bdb overflow out of range", le(bdbOK, 2*512+16, 99), readBerkeley, "", "out of range"},
		{"bdb length mismatch", le(bdbOK, 512+495+8, 5), readBerkeley, "", "longer than its 5-byte value"},
		{"bdb huge value", le(bdbOK, 512+495+8, 1<<30), readBerkeley, "", "value of 1073741824 bytes"},
		{"bdb value past the file", le(bdbOK, 512+495+8, 4096), readBerkeley, "", "value of 4096 bytes"},
		{"ndb blob listed twice", le(le(pkgdbtest.NDB(procpsHeader()), 3*16+4, 1), 3*16+8, 4096/16), readNDB, "", "package 1: blob at offset 4096 listed twice"},
		{"ndb empty", nil, readNDB, "header", ""},
		{"ndb magic", le(ndbOK, 0, 1), readNDB, "not an rpm NDB", ""},
		{"ndb slot pages", le(ndbOK, 12, 9), readNDB, "9 slot pages", ""},
		{"ndb slot magic", le(ndbOK, 3*16, 0), readNDB, "slot 3: bad magic", ""},
		{"ndb blob offset", le(ndbOK, 2*16+8, 1<<20), readNDB, "", "package 1: blob at"},
		{"ndb blob magic", le(ndbOK, 4096, 0), readNDB, "", "no blob at offset 4096"},
		{"ndb blob length", le(ndbOK, 4096+12, 1<<30), readNDB, "", "past the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			warns, err := tc.read(bytes.NewReader(tc.data), int64(len(tc.data)), func(int, []byte) { n++ })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !strings.Contains(strings.Join(warns, "\n"), tc.warn) {
				t.Fatalf("err %v warnings %q, want %q", err, warns, tc.warn)
			}
		})
	}
}

func fuzzStore(f *testing.F, read func(io.ReaderAt, int64, func(int, []byte)) ([]string, error), seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		_, _ = read(bytes.NewReader(b), int64(len(b)), func(_ int, blob []byte) {
			total += len(blob)
			if h, err := ParseHeader(blob); err == nil {
				_, _ = ParsePackage(h)
			}
		})
		if total > 64*len(b)+maxBlob {
			t.Fatalf("%d bytes of blobs from a %d-byte file", total, len(b))
		}
	})
}

func FuzzReadBerkeley(f *testing.F) {
	fuzzStore(f, readBerkeley, pkgdbtest.BerkeleyDB(512, procpsHeader()), pkgdbtest.BerkeleyDB(512, procpsHeader(), procpsHeader()))
}

func FuzzReadNDB(f *testing.F) {
	fuzzStore(f, readNDB, pkgdbtest.NDB(procpsHeader()), pkgdbtest.NDB(procpsHeader(), procpsHeader()))
}
