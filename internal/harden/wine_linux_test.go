package harden

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wineEnv is a throw-away Wine prefix with minerguard.exe built for it.
type wineEnv struct {
	t            *testing.T
	wine, server string
	prefix, exe  string
}

func findWine() (wine, server string) {
	for _, c := range [][2]string{{"wine64", "wineserver"}, {"/usr/lib/wine/wine64", "/usr/lib/wine/wineserver64"}, {"wine", "wineserver"}} {
		if w, err := exec.LookPath(c[0]); err == nil {
			s, _ := exec.LookPath(c[1])
			return w, s
		}
	}
	return "", ""
}

// newWine prepares the prefix. Debian 12's Wine 8 has no
// bcryptprimitives.dll, which Go binaries load at start, so a tiny one
// (testdata/wine/prng.s) is assembled with mingw binutils and put in the
// prefix's system32.
func newWine(t *testing.T) *wineEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("wine test skipped in -short mode")
	}
	wine, server := findWine()
	if wine == "" {
		t.Skip("wine is not installed (Debian: apt-get install wine64); the real-registry test is skipped")
	}
	for _, tool := range []string{"x86_64-w64-mingw32-as", "x86_64-w64-mingw32-ld", "x86_64-w64-mingw32-dlltool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing (Debian: apt-get install binutils-mingw-w64-x86-64): needed to give Wine 8 the bcryptprimitives.dll Go binaries load", tool)
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the Windows binary")
	}
	dir := t.TempDir()
	w := &wineEnv{t: t, wine: wine, server: server, prefix: filepath.Join(dir, "prefix"), exe: filepath.Join(dir, "minerguard.exe")}

	build := exec.Command(goBin, "build", "-o", w.exe, "github.com/minerguard/minerguard/cmd/minerguard")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	src, _ := filepath.Abs("testdata/wine")
	for _, c := range [][]string{
		{"x86_64-w64-mingw32-dlltool", "-d", filepath.Join(src, "advapi32.def"), "-l", filepath.Join(dir, "libadvapi32.a")},
		{"x86_64-w64-mingw32-as", "-o", filepath.Join(dir, "prng.o"), filepath.Join(src, "prng.s")},
		{"x86_64-w64-mingw32-ld", "--shared", "-e", "0", "-o", filepath.Join(dir, "bcryptprimitives.dll"), filepath.Join(dir, "prng.o"), filepath.Join(src, "bcryptprimitives.def"), filepath.Join(dir, "libadvapi32.a")},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	// Any command creates the prefix; cmd is Wine's own.
	if _, _, code := w.run("cmd", "/c", "exit"); code != 0 {
		t.Fatalf("wine prefix creation: exit %d", code)
	}
	t.Cleanup(func() {
		if w.server != "" {
			k := exec.Command(w.server, "-k")
			k.Env = w.env()
			_ = k.Run()
		}
	})
	dll, err := os.ReadFile(filepath.Join(dir, "bcryptprimitives.dll"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.prefix, "drive_c/windows/system32/bcryptprimitives.dll"), dll, 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *wineEnv) env() []string {
	return append(os.Environ(), "WINEPREFIX="+w.prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=")
}

func (w *wineEnv) run(args ...string) (stdout, stderr string, code int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.wine, args...)
	cmd.Env = w.env()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("wine %v: %v", args, err)
	}
	return strings.ReplaceAll(o.String(), "\r\n", "\n"), e.String(), code
}

// query is `reg query KEY /s` (Wine's reg.exe, not minerguard's code):
// the independent view of the registry the test compares.
func (w *wineEnv) query(key string) string {
	out, _, code := w.run("reg", "query", key, "/s")
	if code != 0 {
		return "absent"
	}
	return out
}

func TestWineRegistryApplyRollback(t *testing.T) {
	w := newWine(t)
	touched := []string{
		`HKLM\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters`,
		`HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server`,
		`HKLM\SOFTWARE\Policies`,
		`HKLM\SOFTWARE\Microsoft\Windows Defender`,
	}
	// A weak machine: admin shares on (a value that exists), RDP allowed,
	// Defender turned off by policy.
	for _, c := range [][]string{
		{"reg", "add", touched[0], "/v", "AutoShareWks", "/t", "REG_DWORD", "/d", "1", "/f"},
		{"reg", "add", touched[1], "/v", "fDenyTSConnections", "/t", "REG_DWORD", "/d", "0", "/f"},
		{"reg", "add", touched[3], "/v", "ProductStatus", "/t", "REG_DWORD", "/d", "0", "/f"},
		{"reg", "add", `HKLM\SOFTWARE\Policies\Microsoft\Windows Defender`, "/v", "DisableAntiSpyware", "/t", "REG_DWORD", "/d", "1", "/f"},
	} {
		if _, e, code := w.run(c...); code != 0 {
			t.Fatalf("%v: exit %d %s", c, code, e)
		}
	}
	before := map[string]string{}
	for _, k := range touched {
		before[k] = w.query(k)
	}
	items := "--only=win.smb.autoshare,win.rdp,win.firewall.high_risk_ports,win.defender.realtime"

	out, _, code := w.run(w.exe, "harden", items)
	if code != 1 || strings.Count(out, "FAIL ") != 4 {
		t.Fatalf("audit of the weak prefix: exit %d\n%s", code, out)
	}

	out, errOut, code := w.run(w.exe, "harden", "--apply", items, `--state-dir=C:\mg`)
	if code != 0 || strings.Count(out, "CHANGED ") != 4 || strings.Count(out, "PASS ") != 4 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	for k, want := range map[string][]string{
		touched[0]: {"AutoShareWks    REG_DWORD    0x0", "AutoShareServer    REG_DWORD    0x0"},
		touched[1]: {"fDenyTSConnections    REG_DWORD    0x1"},
		touched[2]: {"minerguard-high-risk-ports-tcp    REG_SZ    v2.10|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=135|", "minerguard-high-risk-ports-udp    REG_SZ    v2.10|Action=Block|Active=TRUE|Dir=In|Protocol=17|"},
	} {
		got := w.query(k)
		for _, s := range want {
			if !strings.Contains(got, s) {
				t.Errorf("after apply, %s lacks %q:\n%s", k, s, got)
			}
		}
	}
	if strings.Contains(w.query(touched[2]), "DisableAntiSpyware") {
		t.Error("after apply the Defender policy value is still there")
	}
	journal, err := os.ReadFile(filepath.Join(w.prefix, "drive_c/mg", JournalName))
	if err != nil {
		t.Fatal(err)
	}
	if steps, err := parseJournal("journal", journal); err != nil || len(steps) != 6 {
		t.Errorf("journal: %d steps, %v\n%s", len(steps), err, journal)
	}

	out, errOut, code = w.run(w.exe, "harden", "--rollback", `--state-dir=C:\mg`)
	if code != 0 || strings.Count(out, "RESTORED ") != 6 {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, k := range touched {
		if got := w.query(k); got != before[k] {
			t.Errorf("%s after rollback:\n%s\nwant:\n%s", k, got, before[k])
		}
	}
	if _, err := os.Stat(filepath.Join(w.prefix, "drive_c/mg", JournalName)); !os.IsNotExist(err) {
		t.Errorf("journal left after a complete rollback: %v", err)
	}
}
