package checks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/process"
)

// idWallet is a real-format 95-character Monero address.
const idWallet = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

// idHex40 is 40 hex digits: an ETH-like address and a git commit hash.
const idHex40 = "0x8ba1f109551bd432803012645ac136ddd64dba72"

// idFixProc is one process of a /proc fixture tree.
type idFixProc struct {
	pid, ppid int
	argv      []string
	environ   []string
	exe, cwd  string // host paths the exe and cwd links point at
}

// idFixture builds a host whose files are copied from files (host path to
// fixture file under testdata, or literal content prefixed with "=") and
// whose /proc holds procs.
func idFixture(t *testing.T, files map[string]string, procs []idFixProc) *Env {
	t.Helper()
	root := t.TempDir()
	procDir := t.TempDir()
	for hp, src := range files {
		var b []byte
		if s, ok := strings.CutPrefix(src, "="); ok {
			b = []byte(s)
		} else {
			var err error
			if b, err = os.ReadFile(filepath.Join("testdata", src)); err != nil {
				t.Fatal(err)
			}
		}
		dst := filepath.Join(root, filepath.FromSlash(hp))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		dir := filepath.Join(procDir, fmt.Sprint(p.pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		comm := filepath.Base(p.argv[0])
		if len(comm) > 15 {
			comm = comm[:15]
		}
		ppid := p.ppid
		if ppid == 0 {
			ppid = 1
		}
		write := map[string]string{
			"stat":    fmt.Sprintf("%d (%s) S %d %d %d 0 -1 0 0 0 0 0 10 5 0 0 20 0 1 0 100 1000000 100 0 0 0\n", p.pid, comm, ppid, p.pid, p.pid),
			"status":  fmt.Sprintf("Name:\t%s\nTgid:\t%d\nPPid:\t%d\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nThreads:\t1\n", comm, p.pid, ppid),
			"cmdline": strings.Join(p.argv, "\x00") + "\x00",
			"environ": strings.Join(p.environ, "\x00"),
		}
		for n, c := range write {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if p.exe != "" {
			if err := os.Symlink(p.exe, filepath.Join(dir, "exe")); err != nil {
				t.Fatal(err)
			}
		}
		if p.cwd != "" {
			if err := os.Symlink(p.cwd, filepath.Join(dir, "cwd")); err != nil {
				t.Fatal(err)
			}
		}
	}
	h, err := host.Fixture(root, procDir)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := process.Snapshot(context.Background(), h.Proc())
	if err != nil {
		t.Fatal(err)
	}
	return NewEnv(h, intel.MustLoad(), tbl, nil)
}

// idRun runs the registered check id and returns its findings by pid.
func idRun(t *testing.T, env *Env, id string) map[int][]findings.Finding {
	t.Helper()
	c, ok := Lookup(id)
	if !ok {
		t.Fatalf("check %q not registered", id)
	}
	fs, err := c.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	out := map[int][]findings.Finding{}
	for _, f := range fs {
		out[f.Evidence.PID] = append(out[f.Evidence.PID], f)
	}
	return out
}

// idRules lists "rule/severity" of findings, for exact comparison.
func idRules(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule+"/"+f.Severity.String())
	}
	return out
}
