package host

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestReadProcFile(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 1023, 1024, 1025, 70000} {
		want := bytes.Repeat([]byte{'x', 0}, size/2+1)[:size]
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readProcFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: got %d bytes, %v", size, len(got), err)
		}
	}
	if _, err := readProcFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	// A real /proc file of unknown size (reported as 0 by stat).
	b, err := readProcFile("/proc/self/status")
	if err != nil || !bytes.Contains(b, []byte("Tgid:")) {
		t.Errorf("/proc/self/status: %q, %v", b, err)
	}
}
