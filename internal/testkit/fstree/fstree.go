// Package fstree writes fixture trees for tests: a map of relative paths
// to contents, where a content "->TARGET" makes a symbolic link.
package fstree

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Write creates the files and links of tree under root. Files get mode;
// mode 0 means 0755 for ELF or #! content and 0644 otherwise.
func Write(t testing.TB, root string, tree map[string]string, mode os.FileMode) {
	t.Helper()
	for name, content := range tree {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		m := mode
		if m == 0 {
			m = 0o644
			if strings.HasPrefix(content, "\x7fELF") || strings.HasPrefix(content, "#!") {
				m = 0o755
			}
		}
		if err := os.WriteFile(p, []byte(content), m); err != nil {
			t.Fatal(err)
		}
	}
}
