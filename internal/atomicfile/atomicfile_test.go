package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		path    string
		before  []byte // existing content, nil: none
		data    []byte
		perm    os.FileMode
		wantErr bool
	}{
		{name: "new file", path: "state.json", data: []byte("{}\n"), perm: 0o600},
		{name: "replaces", path: "feed.txt", before: []byte("old old old\n"), data: []byte("new\n"), perm: 0o644},
		{name: "empty", path: "empty", before: []byte("x"), data: []byte{}, perm: 0o644},
		{name: "parents made", path: "a/b/c.txt", data: []byte("deep"), perm: 0o640},
		{name: "a directory in the way", path: "isdir", before: nil, data: []byte("x"), perm: 0o644, wantErr: true},
	}
	if err := os.Mkdir(filepath.Join(dir, "isdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.path)
			if c.before != nil {
				if err := os.WriteFile(p, c.before, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(p, c.data, c.perm)
			if c.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(p)
				if err != nil || string(got) != string(c.data) {
					t.Fatalf("content %q, %v; want %q", got, err, c.data)
				}
				if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != c.perm {
					t.Errorf("mode %v, want %v", fi.Mode().Perm(), c.perm)
				}
			}
			// No temporary file is left behind, whatever happened.
			ents, _ := os.ReadDir(filepath.Dir(p))
			for _, e := range ents {
				if filepath.Ext(e.Name()) == ".tmp" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}

func TestWriteSynced(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal.new")
	if err := WriteSynced(p, []byte("a long first version\n")); err != nil {
		t.Fatal(err)
	}
	if err := WriteSynced(p, []byte("short\n")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "short\n" {
		t.Errorf("content %q: not truncated", got)
	}
	if fi, _ := os.Stat(p); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := WriteSynced(filepath.Join(t.TempDir(), "no", "such", "dir"), nil); err == nil {
		t.Error("no error for a missing directory")
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Error(err)
	}
	if runtime.GOOS != "windows" {
		if err := SyncDir(filepath.Join(t.TempDir(), "missing")); err == nil {
			t.Error("no error for a missing directory")
		}
	}
}
