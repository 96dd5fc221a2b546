package respond

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestApplyEdits(t *testing.T) {
	cron := "# m h dom mon dow command\n0 3 * * * /usr/local/bin/backup\n*/10 * * * * /tmp/.x/kworkerds >/dev/null 2>&1\n@reboot /home/alice/start.sh"
	tests := []struct {
		name    string
		in      string
		edits   []LineEdit
		want    string
		changed bool
		err     bool
	}{
		{"delete middle line, others byte-identical", cron,
			[]LineEdit{{Line: 3, Old: []byte("*/10 * * * * /tmp/.x/kworkerds >/dev/null 2>&1"), Delete: true}},
			"# m h dom mon dow command\n0 3 * * * /usr/local/bin/backup\n@reboot /home/alice/start.sh", true, false},
		{"line moved since the scan", "new first line\n" + cron,
			[]LineEdit{{Line: 3, Old: []byte("*/10 * * * * /tmp/.x/kworkerds >/dev/null 2>&1"), Delete: true}},
			"new first line\n# m h dom mon dow command\n0 3 * * * /usr/local/bin/backup\n@reboot /home/alice/start.sh", true, false},
		{"already removed (resume)", "a\nb\n",
			[]LineEdit{{Line: 2, Old: []byte("evil"), Delete: true}}, "a\nb\n", false, false},
		{"CRLF kept on replaced line", "root:$6$x:1:0:99999:7:::\r\nbob:$6$y:1:0:99999:7:::\r\n",
			[]LineEdit{{Line: 2, Old: []byte("bob:$6$y:1:0:99999:7:::"), New: []byte("bob:!$6$y:1:0:99999:7:::")}},
			"root:$6$x:1:0:99999:7:::\r\nbob:!$6$y:1:0:99999:7:::\r\n", true, false},
		{"last line without newline deleted", "keep\nevil",
			[]LineEdit{{Line: 2, Old: []byte("evil"), Delete: true}}, "keep\n", true, false},
		{"duplicate lines: the hinted one", "evil\nkeep\nevil\n",
			[]LineEdit{{Line: 3, Old: []byte("evil"), Delete: true}}, "evil\nkeep\n", true, false},
		{"duplicate lines, wrong hint: refuse", "evil\nkeep\nevil\n",
			[]LineEdit{{Line: 2, Old: []byte("evil"), Delete: true}}, "", false, true},
		{"both duplicates removed", "evil\nkeep\nevil\n",
			[]LineEdit{{Line: 1, Old: []byte("evil"), Delete: true}, {Line: 3, Old: []byte("evil"), Delete: true}}, "keep\n", true, false},
		{"changed line is a conflict", "a\nevil but edited\n",
			[]LineEdit{{Line: 2, Old: []byte("evil"), New: []byte("x")}}, "", false, true},
		{"binary bytes survive", "\x00\xff\n/tmp/x\n\xfe",
			[]LineEdit{{Line: 2, Old: []byte("/tmp/x"), Delete: true}}, "\x00\xff\n\xfe", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := ApplyEdits([]byte(tc.in), tc.edits)
			if tc.err {
				var ce *ErrEditConflict
				if !errors.As(err, &ce) {
					t.Fatalf("want conflict, got %v (%q)", err, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want || changed != tc.changed {
				t.Fatalf("got %q changed=%v, want %q changed=%v", out, changed, tc.want, tc.changed)
			}
		})
	}
}

// FuzzApplyEdits: any text and edit either conflicts or changes exactly the
// edited lines, and joining split lines gives the input back.
func FuzzApplyEdits(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), 2, []byte("b"))
	f.Add([]byte(""), 1, []byte(""))
	f.Add([]byte("\n\n\n"), 0, []byte(""))
	f.Fuzz(func(t *testing.T, text []byte, line int, old []byte) {
		if !bytes.Equal(bytes.Join(splitLines(text), nil), text) {
			t.Fatalf("splitLines lost bytes of %q", text)
		}
		out, changed, err := ApplyEdits(text, []LineEdit{{Line: line, Old: old, Delete: true}})
		if err != nil {
			return
		}
		if !changed {
			if !bytes.Equal(out, text) {
				t.Fatal("unchanged output differs")
			}
			return
		}
		if len(splitLines(out)) != len(splitLines(text))-1 {
			t.Fatalf("delete removed %d lines", len(splitLines(text))-len(splitLines(out)))
		}
	})
}

// BenchmarkApplyEdits removes two lines from a 100k-line file.
func BenchmarkApplyEdits(b *testing.B) {
	var buf bytes.Buffer
	for i := range 100000 {
		fmt.Fprintf(&buf, "%d * * * * /usr/local/bin/job-%d --flag\n", i%60, i)
	}
	text := buf.Bytes()
	edits := []LineEdit{{Line: 500, Old: []byte("19 * * * * /usr/local/bin/job-499 --flag"), Delete: true},
		{Line: 90001, Old: []byte("0 * * * * /usr/local/bin/job-90000 --flag"), Delete: true}}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, changed, err := ApplyEdits(text, edits); err != nil || !changed {
			b.Fatal(err)
		}
	}
}
