package checks

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

// offlineEnv builds an offline host from a tree (see writeTree).
func treeEnv(t *testing.T, tree map[string]string) (*Env, string) {
	t.Helper()
	root := t.TempDir()
	writeTree(t, root, tree)
	return offlineEnvAt(t, root)
}

// runCheck runs a registered check and fails on error.
func runCheck(t *testing.T, env *Env, id string) []findings.Finding {
	t.Helper()
	c, ok := Lookup(id)
	if !ok {
		t.Fatalf("check %q not registered", id)
	}
	fs, err := c.Run(t.Context(), env)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return fs
}

// fkeys lists "rule/severity path:line" of findings, sorted.
func fkeys(fs []findings.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s/%s %s:%d", f.Rule, f.Severity, f.Evidence.Path, f.Evidence.Line))
	}
	sort.Strings(out)
	return out
}

func wantKeys(t *testing.T, fs []findings.Finding, want []string) {
	t.Helper()
	got := fkeys(fs)
	sort.Strings(want)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("findings:\n got %q\nwant %q", got, want)
	}
}

// find returns the finding with rule on path:line.
func find(t *testing.T, fs []findings.Finding, rule, path string, line int) findings.Finding {
	t.Helper()
	for _, f := range fs {
		if f.Rule == rule && f.Evidence.Path == path && f.Evidence.Line == line {
			return f
		}
	}
	t.Fatalf("no %s at %s:%d in %q", rule, path, line, fkeys(fs))
	return findings.Finding{}
}

// copyHostTree copies host directories (links kept) into root; missing
// ones are skipped.
func copyHostTree(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable parts are skipped
			}
			dst := filepath.Join(root, p)
			switch {
			case e.Type()&fs.ModeSymlink != 0:
				tg, err := os.Readlink(p)
				if err != nil {
					return nil
				}
				_ = os.MkdirAll(filepath.Dir(dst), 0o755)
				return os.Symlink(tg, dst)
			case e.IsDir():
				return os.MkdirAll(dst, 0o755)
			case e.Type().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					return nil
				}
				_ = os.MkdirAll(filepath.Dir(dst), 0o755)
				return os.WriteFile(dst, b, 0o644)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// offlineEnvAt builds an offline host from an existing root directory.
func offlineEnvAt(t *testing.T, root string) (*Env, string) {
	t.Helper()
	return offlineEnv(t, root, time.Now()), root
}
