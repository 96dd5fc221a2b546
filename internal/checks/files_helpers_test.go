package checks

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
)

// fxFile is one file of a file-check fixture: literal content, or a copy of
// a real file ("@/bin/true"), or a symlink ("->target").
type fxFile struct {
	data string
	mode os.FileMode
}

// filesFixture writes files (host path -> content) under a fresh root and
// returns an offline Env for it.
func filesFixture(t *testing.T, files map[string]fxFile) (*Env, string) {
	t.Helper()
	root := t.TempDir()
	for hp, f := range files {
		dst := filepath.Join(root, filepath.FromSlash(hp))
		if strings.HasSuffix(hp, "/") {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			continue // a bare directory
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(f.data, "->"); ok {
			if err := os.Symlink(target, dst); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b := []byte(f.data)
		if src, ok := strings.CutPrefix(f.data, "@"); ok {
			var err error
			if b, err = os.ReadFile(src); err != nil {
				t.Skipf("fixture needs %s: %v", src, err)
			}
		}
		mode := f.mode
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	return NewEnv(h, intel.MustLoad(), nil, nil), root
}

// runFileCheck runs a registered check and returns its findings.
func runFileCheck(t *testing.T, id string, env *Env) []findings.Finding {
	t.Helper()
	c, ok := Lookup(id)
	if !ok {
		t.Fatalf("check %s not registered", id)
	}
	if c.Info().Needs&NeedsProc != 0 {
		t.Fatalf("%s must need only the filesystem", id)
	}
	fs, err := c.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return fs
}

// fakeELF builds a valid ELF64 little-endian header of type typ (2 exec,
// 3 dyn) followed by extra bytes (signature strings).
func fakeELF(typ uint16, extra string) string {
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(h[16:], typ)
	binary.LittleEndian.PutUint16(h[18:], 62) // x86-64
	binary.LittleEndian.PutUint32(h[20:], 1)
	binary.LittleEndian.PutUint16(h[52:], 64) // ehsize
	binary.LittleEndian.PutUint16(h[54:], 56) // phentsize
	binary.LittleEndian.PutUint16(h[58:], 64) // shentsize
	return string(h) + strings.Repeat("\x00", 200) + extra
}

// fakePE builds an MZ/PE header followed by extra.
func fakePE(extra string) string {
	h := make([]byte, 0x100)
	h[0], h[1] = 'M', 'Z'
	binary.LittleEndian.PutUint32(h[0x3c:], 0x80)
	copy(h[0x80:], "PE\x00\x00")
	return string(h) + extra
}

// minerStrings carries enough intel signatures to pass the threshold.
const minerStrings = "\x00donate.v2.xmrig.com\x00stratum+tcp://\x00mining.subscribe\x00cryptonight\x00"

// wantFinding is the exact finding a table row expects.
type wantFinding struct {
	rule string
	sev  findings.Severity
	path string
	line int
}

// checkFindings compares findings (ignoring status ones) with want.
func checkFindings(t *testing.T, got []findings.Finding, want []wantFinding) {
	t.Helper()
	var real []findings.Finding
	for _, f := range got {
		if f.Signal != findings.SignalStatus {
			real = append(real, f)
		}
	}
	if len(real) != len(want) {
		for _, f := range real {
			t.Logf("got %s %s %s line %d: %s", f.Rule, f.Severity, f.Evidence.Path, f.Evidence.Line, f.Title)
		}
		t.Fatalf("got %d findings, want %d", len(real), len(want))
	}
	for _, w := range want {
		found := false
		for _, f := range real {
			if f.Rule == w.rule && f.Severity == w.sev && f.Evidence.Path == w.path && f.Evidence.Line == w.line {
				found = true
			}
		}
		if !found {
			for _, f := range real {
				t.Logf("got %s %s %s line %d", f.Rule, f.Severity, f.Evidence.Path, f.Evidence.Line)
			}
			t.Errorf("missing %s %s %s line %d", w.rule, w.sev, w.path, w.line)
		}
	}
}
