package checks

import (
	"reflect"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
)

func TestPreload(t *testing.T) {
	tests := []struct {
		name    string
		file    string // /etc/ld.so.preload ("" = absent)
		environ []string
		want    map[string]findings.Severity // rule -> severity
		paths   []string
	}{
		{"clean", "", []string{"PATH=/bin"}, map[string]findings.Severity{}, nil},
		{"comment only", "# nothing\n\n", nil, map[string]findings.Severity{}, nil},
		{"file", "/lib/libprocesshider.so\n", nil, map[string]findings.Severity{"process.preload.file": findings.High}, []string{"/lib/libprocesshider.so"}},
		{"env", "", []string{"A=1", "LD_PRELOAD=/tmp/a.so:/tmp/b.so /tmp/a.so"}, map[string]findings.Severity{"process.preload.env": findings.Medium}, []string{"/tmp/a.so", "/tmp/b.so"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.file != "" {
				writeTree(t, root, map[string]string{"etc/ld.so.preload": tc.file})
			}
			env := procFixture(t, root, []fakeProc{{pid: 321, comm: "worker", cmdline: []string{"worker"}, exe: "/usr/bin/worker", environ: tc.environ}})
			fs := runOn(t, env, "process.preload", 0)
			if len(fs) != len(tc.want) {
				t.Fatalf("got %+v", fs)
			}
			for _, f := range fs {
				if sev, ok := tc.want[f.Rule]; !ok || sev != f.Severity || f.Signal != findings.SignalHiding {
					t.Fatalf("unexpected %s/%s", f.Rule, f.Severity)
				}
				if f.Rule == "process.preload.env" && f.Evidence.PID != 321 {
					t.Fatalf("pid %d", f.Evidence.PID)
				}
				if !reflect.DeepEqual(f.Evidence.Paths, tc.paths) {
					t.Fatalf("paths %v want %v", f.Evidence.Paths, tc.paths)
				}
			}
		})
	}
}

func FuzzParsePreloadList(f *testing.F) {
	f.Add("/lib/a.so /lib/b.so:/lib/c.so\n#x\n", true)
	f.Fuzz(func(t *testing.T, s string, file bool) {
		for _, l := range ParsePreloadList(s, file) {
			if l == "" {
				t.Fatal("empty entry")
			}
		}
	})
}
