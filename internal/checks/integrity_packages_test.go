package checks

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/pkgdb"
	"github.com/minerguard/minerguard/internal/pkgdb/pkgdbtest"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// debRoot builds a merged-/usr Debian root: files maps a host path to its
// content and owning package ("" = unowned); pkgFiles that are listed in a
// package but whose content on disk differs are given by shipped.
func debRoot(t *testing.T, files map[string][2]string, shipped map[string]string) string {
	t.Helper()
	return debRootAt(t, files, shipped, time.Now().Add(-24*time.Hour))
}

// debRootAt is debRoot with the packages' digests recorded at installed:
// in the past, like a real system tampered with after installation.
func debRootAt(t *testing.T, files map[string][2]string, shipped map[string]string, installed time.Time) string {
	t.Helper()
	root := t.TempDir()
	tree := map[string]string{"bin": "->usr/bin", "sbin": "->usr/sbin"}
	lists := map[string][]string{}
	sums := map[string][]string{}
	for p, v := range files {
		tree[strings.TrimPrefix(p, "/")] = v[0]
		if pkg := v[1]; pkg != "" {
			lists[pkg] = append(lists[pkg], p)
			content := v[0]
			if s, ok := shipped[p]; ok {
				content = s
			}
			sums[pkg] = append(sums[pkg], md5hex(content)+"  "+strings.TrimPrefix(p, "/"))
		}
	}
	var status strings.Builder
	pkgs := make([]string, 0, len(lists))
	for pkg := range lists {
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n", pkg)
		tree["var/lib/dpkg/info/"+pkg+".list"] = strings.Join(lists[pkg], "\n") + "\n"
		tree["var/lib/dpkg/info/"+pkg+".md5sums"] = strings.Join(sums[pkg], "\n") + "\n"
	}
	tree["var/lib/dpkg/status"] = status.String()
	writeTree(t, root, tree)
	for _, pkg := range pkgs {
		if err := os.Chtimes(filepath.Join(root, "var/lib/dpkg/info", pkg+".md5sums"), installed, installed); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestIntegrityPackagesCtimeFastPath: a packaged file whose inode has not
// changed since its digest was recorded is not hashed (so a mismatch
// planted "before installation" goes unseen), and --full hashes it anyway.
func TestIntegrityPackagesCtimeFastPath(t *testing.T) {
	files := map[string][2]string{"/usr/bin/ps": {"\x7fELF ps binary with a hook", "procps"}}
	shipped := map[string]string{"/usr/bin/ps": elfPs}
	// Recorded an hour from now: every file's ctime is older.
	root := debRootAt(t, files, shipped, time.Now().Add(time.Hour))
	env := fileEnv(t, root)
	if got := ruleSet(runOn(t, env, "integrity.packages", 0)); len(got) != 0 {
		t.Errorf("fast path: got %v, want nothing (file unchanged since the record)", got)
	}
	env.Full = true
	if got := ruleSet(runOn(t, env, "integrity.packages", 0)); strings.Join(got, ",") != "integrity.package_modified high /usr/bin/ps" {
		t.Errorf("--full: got %v, want the modified ps", got)
	}
}

func fileEnv(t *testing.T, root string) *Env {
	t.Helper()
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	return NewEnv(h, intel.MustLoad(), nil, nil)
}

// ruleSet renders findings as "rule severity path" lines, sorted.
func ruleSet(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s", f.Rule, f.Severity, f.Evidence.Path))
	}
	sort.Strings(out)
	return out
}

const (
	elfLs   = "\x7fELF ls binary"
	elfPs   = "\x7fELF ps binary"
	elfTop  = "\x7fELF top binary"
	elfCurl = "\x7fELF curl binary, long enough to be distinct"
	elfWget = "\x7fELF wget binary"
)

func TestIntegrityPackages(t *testing.T) {
	topWrapper := "#!/bin/bash\n# top\n/usr/bin/top.orig \"$@\" | grep -v -E 'xmrig|kdevtmpfsi'\n"
	root := debRoot(t, map[string][2]string{
		"/usr/bin/ls":                          {elfLs, "coreutils"},
		"/usr/bin/ps":                          {"\x7fELF ps binary with a hook", "procps"},
		"/usr/bin/top":                         {topWrapper, "procps"},
		"/usr/bin/top.orig":                    {elfTop, ""},
		"/usr/bin/curl":                        {elfCurl, "curl"},
		"/usr/bin/wget":                        {elfWget, "wget"},
		"/usr/bin/README":                      {"just text", ""},
		"/usr/bin/evil\nname":                  {"\x7fELF", ""},
		"/usr/bin/x.dpkg-new":                  {"\x7fELF being upgraded", ""},
		"/usr/sbin/cron":                       {"\x7fELF cron", "cron"},
		"/usr/lib/systemd/systemd-journald":    {"\x7fELF journald", "systemd"},
		"/usr/lib/systemd/system/cron.service": {"[Service]\nExecStart=/usr/sbin/cron -f\n", "cron"},
		"/usr/lib/systemd/system/ssh.service":  {"[Service]\nExecStart=/tmp/.x/ssh\n", "openssh-server"},
		"/usr/share/doc/procps/README":         {"changed docs are not verified", "procps"},
		"/usr/local/bin/backup.sh":             {"#!/bin/sh\nrsync -a /srv /backup\n", ""},
		"/usr/local/bin/ss":                    {"#!/bin/sh\n/usr/bin/ss.real \"$@\" | grep -v 3333\n", ""},
		"/var/tmp/.cache/dl":                   {elfCurl, ""},
		"/tmp/wg":                              {elfWget, ""},
		"/tmp/notwget":                         {"\x7fELF wget binarX", ""},
	}, map[string]string{
		"/usr/bin/ps":                         elfPs,
		"/usr/bin/top":                        elfTop,
		"/usr/lib/systemd/system/ssh.service": "[Service]\nExecStart=/usr/sbin/sshd -D\n",
		"/usr/share/doc/procps/README":        "original",
	})
	fs := runOn(t, fileEnv(t, root), "integrity.packages", 0)
	want := []string{
		"integrity.downloader_copy high /tmp/wg",
		"integrity.downloader_copy high /var/tmp/.cache/dl",
		"integrity.local_executable info /usr/local/bin/backup.sh",
		"integrity.package_modified high /usr/bin/ps",
		"integrity.package_modified high /usr/lib/systemd/system/ssh.service",
		"integrity.tool_wrapper high /usr/bin/top",
		"integrity.tool_wrapper high /usr/local/bin/ss",
		`integrity.unowned_executable medium /usr/bin/evil\x0aname`,
		"integrity.unowned_executable medium /usr/bin/top.orig",
	}
	if got := ruleSet(fs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, f := range fs {
		if f.Signal != findings.SignalIntegrity {
			t.Errorf("%s: signal %s", f.Rule, f.Signal)
		}
		switch f.Evidence.Path {
		case "/usr/bin/ps":
			if f.Evidence.Details["package"] != "procps" || f.Evidence.Details["expected"] != md5hex(elfPs) ||
				!strings.Contains(f.Remediation, "apt-get install --reinstall procps") || len(f.Evidence.SHA256) != 64 {
				t.Errorf("ps: %+v %s", f.Evidence, f.Remediation)
			}
		case "/usr/bin/top":
			if f.Evidence.Line != 3 || len(f.Evidence.Match) != 1 || !strings.Contains(f.Evidence.Match[0], "grep -v") ||
				!strings.Contains(f.Remediation, "apt-get install --reinstall procps") {
				t.Errorf("top: %+v %s", f.Evidence, f.Remediation)
			}
		case "/tmp/wg":
			if len(f.Evidence.Paths) != 1 || f.Evidence.Paths[0] != "/usr/bin/wget" {
				t.Errorf("wg: %+v", f.Evidence)
			}
		}
	}

	// Without a package database only what needs none is reported.
	if err := os.RemoveAll(filepath.Join(root, "var/lib/dpkg")); err != nil {
		t.Fatal(err)
	}
	want = []string{
		"integrity.downloader_copy high /tmp/wg",
		"integrity.downloader_copy high /var/tmp/.cache/dl",
		"integrity.tool_wrapper high /usr/bin/top",
		"integrity.tool_wrapper high /usr/local/bin/ss",
	}
	if got := ruleSet(runOn(t, fileEnv(t, root), "integrity.packages", 0)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("no db: got\n%s", strings.Join(got, "\n"))
	}
}

func TestIntegrityPackagesClean(t *testing.T) {
	// A normal system with an admin's compiled tool in /usr/local/bin and a
	// legitimately packaged script tool: nothing above info.
	root := debRoot(t, map[string][2]string{
		"/usr/bin/ls":                  {elfLs, "coreutils"},
		"/usr/bin/ldd":                 {"#!/bin/bash\necho ldd | grep -v x\n", "libc-bin"},
		"/usr/bin/curl":                {elfCurl, "curl"},
		"/usr/local/bin/node_exporter": {"\x7fELF exporter", ""},
	}, nil)
	for _, f := range runOn(t, fileEnv(t, root), "integrity.packages", 0) {
		if f.Severity > findings.Info {
			t.Errorf("clean system: %s %s %s", f.Rule, f.Severity, f.Evidence.Path)
		}
	}
}

func TestIntegrityIntelLoads(t *testing.T) {
	v, err := loadIntegrityIntel(intel.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Packages.VerifyDirs) == 0 || len(v.Hosts.Protected) == 0 || len(v.Attributes.Paths) == 0 {
		t.Fatalf("%+v", v)
	}
}

func TestIntegrityPackagesRPM(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"bin":             "->usr/bin",
		"usr/bin/ls":      elfLs,
		"usr/bin/ps":      "\x7fELF ps binary with a hook",
		"usr/bin/kswapd0": "\x7fELF miner",
	})
	sha := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	pkg := func(name, file, content string) []byte {
		return pkgdbtest.Header([]pkgdbtest.Entry{
			{Tag: pkgdb.TagName, Type: pkgdbtest.TypeString, Val: name},
			{Tag: pkgdb.TagVersion, Type: pkgdbtest.TypeString, Val: "1.0"},
			{Tag: pkgdb.TagFileModes, Type: pkgdbtest.TypeInt16, Val: []uint16{0o100755}},
			{Tag: pkgdb.TagFileDigests, Type: pkgdbtest.TypeStringArray, Val: []string{sha(content)}},
			{Tag: pkgdb.TagDirIndexes, Type: pkgdbtest.TypeInt32, Val: []uint32{0}},
			{Tag: pkgdb.TagBaseNames, Type: pkgdbtest.TypeStringArray, Val: []string{file}},
			{Tag: pkgdb.TagDirNames, Type: pkgdbtest.TypeStringArray, Val: []string{"/usr/bin/"}},
			{Tag: pkgdb.TagFileDigestAlgo, Type: pkgdbtest.TypeInt32, Val: []uint32{uint32(pkgdb.AlgoSHA256)}},
		})
	}
	dir := filepath.Join(root, "usr/lib/sysimage/rpm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := pkgdbtest.WriteRPMDB(filepath.Join(dir, "rpmdb.sqlite"), pkg("coreutils", "ls", elfLs), pkg("procps-ng", "ps", elfPs)); err != nil {
		t.Fatal(err)
	}
	fs := runOn(t, fileEnv(t, root), "integrity.packages", 0)
	want := []string{
		"integrity.package_modified high /usr/bin/ps",
		"integrity.unowned_executable medium /usr/bin/kswapd0",
	}
	if got := ruleSet(fs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s", strings.Join(got, "\n"))
	}
	for _, f := range fs {
		if f.Evidence.Path == "/usr/bin/ps" && (!strings.Contains(f.Remediation, "dnf reinstall procps-ng") || f.Evidence.Details["algo"] != "sha256") {
			t.Fatalf("%+v %s", f.Evidence, f.Remediation)
		}
	}
}

// TestIntegrityPackagesRPMStores runs the check on roots holding real
// Berkeley DB (CentOS 7) and NDB (SLE 15) rpmdbs from go-rpmdb's testdata,
// with one packaged binary replaced.
func TestIntegrityPackagesRPMStores(t *testing.T) {
	for _, tc := range []struct {
		name, src, dst, osRelease, tampered, reinstall string
	}{
		{"centos7 bdb", "centos7-plain/Packages", "var/lib/rpm/Packages",
			"ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n", "/usr/bin/bash", "yum reinstall bash"},
		{"centos8 bdb", "centos8-modularitylabel/Packages", "var/lib/rpm/Packages",
			"ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"8\"\n", "/usr/bin/ls", "dnf reinstall coreutils-single"},
		{"sle15 ndb", "sle15-bci/Packages.db", "usr/lib/sysimage/rpm/Packages.db",
			"ID=\"sles\"\nID_LIKE=\"suse\"\nVERSION_ID=\"15.3\"\n", "/usr/bin/ls", "zypper install --force coreutils"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := pkgdbtest.GoRPMDBTestdata(tc.src)
			if err != nil {
				t.Skipf("no real rpmdb to read: %v", err)
			}
			db, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			writeTree(t, root, map[string]string{
				"bin":                                "->usr/bin",
				"etc/os-release":                     tc.osRelease,
				tc.dst:                               string(db),
				strings.TrimPrefix(tc.tampered, "/"): "\x7fELF replaced by a rootkit",
			})
			fs := runOn(t, fileEnv(t, root), "integrity.packages", 0)
			want := "integrity.package_modified high " + tc.tampered
			if got := ruleSet(fs); strings.Join(got, "\n") != want {
				t.Fatalf("got\n%s", strings.Join(got, "\n"))
			}
			if f := fs[0]; !strings.Contains(f.Remediation, tc.reinstall) || f.Evidence.Details["algo"] != "sha256" {
				t.Fatalf("%+v %s", f.Evidence, f.Remediation)
			}
		})
	}
}
