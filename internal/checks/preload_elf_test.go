package checks

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

const hookSrc = `#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <string.h>
struct dirent *readdir(DIR *d) {
	static struct dirent *(*orig)(DIR *);
	struct dirent *e;
	if (!orig) orig = dlsym(RTLD_NEXT, "readdir");
	while ((e = orig(d)) && strcmp(e->d_name, "hideme") == 0) ;
	return e;
}
struct dirent64 *readdir64(DIR *d) {
	static struct dirent64 *(*orig)(DIR *);
	struct dirent64 *e;
	if (!orig) orig = dlsym(RTLD_NEXT, "readdir64");
	while ((e = orig(d)) && strcmp(e->d_name, "hideme") == 0) ;
	return e;
}
static int helper(void) { return 1; }
int not_a_hook(void) { return helper(); }
`

const benignSrc = `int my_helper(int x) { return x * 2; }
`

// buildSO compiles C source into a shared object, skipping without gcc.
func buildSO(t *testing.T, src string) []byte {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed")
	}
	dir := t.TempDir()
	c := filepath.Join(dir, "x.c")
	so := filepath.Join(dir, "x.so")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-shared", "-fPIC", "-o", so, c, "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	b, err := os.ReadFile(so)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestELFExports(t *testing.T) {
	hook := buildSO(t, hookSrc)
	syms, err := ELFExports(bytes.NewReader(hook))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(syms, []string{"not_a_hook", "readdir", "readdir64"}) {
		t.Fatalf("exports %v", syms)
	}
	if _, err := ELFExports(bytes.NewReader(hook[:200])); err == nil {
		t.Fatal("truncated ELF: want error")
	}
	if _, err := ELFExports(strings.NewReader("#!/bin/sh\necho\n")); err == nil {
		t.Fatal("script: want error")
	}
}

func TestPreloadLibrary(t *testing.T) {
	hook := string(buildSO(t, hookSrc))
	benign := string(buildSO(t, benignSrc))
	tests := []struct {
		name  string
		tree  map[string]string
		want  []string // rule/severity/path:line
		match []string // Match of the hooks finding
	}{
		{"none", map[string]string{"etc/environment": "PATH=/usr/bin\n"}, nil, nil},
		{"benign preload", map[string]string{"etc/ld.so.preload": "/usr/lib/libhelper.so\n", "usr/lib/libhelper.so": benign}, nil, nil},
		{"hook in ld.so.preload", map[string]string{"etc/ld.so.preload": "# rootkit\n/usr/local/lib/libprocesshider.so\n", "usr/local/lib/libprocesshider.so": hook},
			[]string{"preload.library.hooks/high//usr/local/lib/libprocesshider.so:2"}, []string{"readdir", "readdir64"}},
		{"bare name resolved in lib dirs", map[string]string{"etc/ld.so.preload": "libx.so\n", "usr/lib/x86_64-linux-gnu/libx.so": hook},
			[]string{"preload.library.hooks/high//usr/lib/x86_64-linux-gnu/libx.so:1"}, []string{"readdir", "readdir64"}},
		{"$LIB expanded", map[string]string{"etc/ld.so.preload": "/$LIB/liby.so\n", "lib64/liby.so": benign}, nil, nil},
		{"missing", map[string]string{"etc/ld.so.preload": "/usr/lib/libgone.so\n"},
			[]string{"preload.library.missing/medium//usr/lib/libgone.so:1"}, nil},
		{"not elf", map[string]string{"etc/ld.so.preload": "/usr/lib/libtext.so\n", "usr/lib/libtext.so": "hello\n"},
			[]string{"preload.library.unreadable/medium//usr/lib/libtext.so:1"}, nil},
		{"temp dir via profile", map[string]string{"etc/profile.d/x.sh": "# set\nexport LD_PRELOAD=\"/tmp/.x/libz.so\"\n", "tmp/.x/libz.so": benign},
			[]string{"preload.library.location/high//tmp/.x/libz.so:2"}, nil},
		{"hook via user profile", map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n", "root/.bashrc": "alias ll='ls -l'\nLD_PRELOAD=/usr/lib/libh.so; export LD_PRELOAD\n", "usr/lib/libh.so": hook},
			[]string{"preload.library.hooks/high//usr/lib/libh.so:2"}, []string{"readdir", "readdir64"}},
		{"variable value skipped", map[string]string{"etc/environment": "LD_PRELOAD=$HOME/lib.so\n"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tc.tree)
			fs, err := runFile(t, offlineEnv(t, root, time.Now()), "preload.library")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Rule+"/"+f.Severity.String()+"/"+f.Evidence.Path+":"+strconv.Itoa(f.Evidence.Line))
				if f.Signal != findings.SignalHiding {
					t.Fatalf("signal %s", f.Signal)
				}
				if f.Rule == "preload.library.hooks" {
					if !reflect.DeepEqual(f.Evidence.Match, tc.match) || len(f.Evidence.SHA256) != 64 || f.Evidence.Details["listed_in"] == "" {
						t.Fatalf("evidence %+v", f.Evidence)
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

func FuzzELFExports(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	f.Add([]byte("not an elf"))
	f.Fuzz(func(t *testing.T, b []byte) {
		syms, err := ELFExports(bytes.NewReader(b))
		if err == nil {
			for _, s := range syms {
				if s == "" {
					t.Fatal("empty symbol")
				}
			}
		}
	})
}

func FuzzParseLDPreloadAssignments(f *testing.F) {
	f.Add("export LD_PRELOAD=\"/a.so /b.so\"\nLD_PRELOAD=/c.so:/d.so cmd\n# LD_PRELOAD=/e.so\n")
	f.Fuzz(func(t *testing.T, s string) {
		n := strings.Count(s, "\n") + 1
		for _, a := range ParseLDPreloadAssignments(s) {
			if a.Lib == "" || a.Line < 1 || a.Line > n || strings.Contains(a.Lib, "$") {
				t.Fatalf("bad %+v", a)
			}
		}
	})
}
