package lines

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReader(t *testing.T) {
	long := strings.Repeat("\x00", 100)
	cases := []struct {
		name      string
		in        string
		max       int
		want      []string
		wantLines []int
		wantLong  []Long
	}{
		{name: "lines", in: "a\nbb\r\nccc\n", max: 16, want: []string{"a", "bb", "ccc"}, wantLines: []int{1, 2, 3}},
		{name: "last line without newline", in: "a\nb", max: 16, want: []string{"a", "b"}, wantLines: []int{1, 2}},
		{name: "empty lines kept", in: "\n\nx\n", max: 16, want: []string{"", "", "x"}, wantLines: []int{1, 2, 3}},
		{name: "empty input", in: "", max: 16},
		{name: "exactly max", in: "0123456789abcdef\nz\n", max: 16, want: []string{"0123456789abcdef", "z"}, wantLines: []int{1, 2}},
		{name: "long line skipped, reading goes on", in: "a\n" + long + "\nb\n", max: 16, want: []string{"a", "b"}, wantLines: []int{1, 3},
			wantLong: []Long{{Line: 2, Offset: 2, Len: 101}}},
		{name: "long last line", in: "a\n" + long, max: 16, want: []string{"a"}, wantLines: []int{1},
			wantLong: []Long{{Line: 2, Offset: 2, Len: 100}}},
		{name: "two long lines", in: long + "\n" + long + "\nok\n", max: 16, want: []string{"ok"}, wantLines: []int{3},
			wantLong: []Long{{Line: 1, Offset: 0, Len: 101}, {Line: 2, Offset: 101, Len: 101}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// One byte per read as well: the bounds must not depend on how
			// the input arrives.
			for _, src := range []io.Reader{strings.NewReader(c.in), iotest.OneByteReader(strings.NewReader(c.in))} {
				r := NewReader(src, c.max)
				var got []string
				var nums []int
				for r.Next() {
					got = append(got, string(r.Bytes()))
					nums = append(nums, r.Line())
				}
				if r.Err() != nil {
					t.Fatal(r.Err())
				}
				if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
					t.Errorf("lines %q, want %q", got, c.want)
				}
				if len(nums) != len(c.wantLines) || (len(nums) > 0 && !equalInts(nums, c.wantLines)) {
					t.Errorf("line numbers %v, want %v", nums, c.wantLines)
				}
				if len(r.LongLines) != len(c.wantLong) || r.LongCount != len(c.wantLong) {
					t.Fatalf("long %+v (count %d), want %+v", r.LongLines, r.LongCount, c.wantLong)
				}
				for i := range c.wantLong {
					if r.LongLines[i] != c.wantLong[i] {
						t.Errorf("long %+v, want %+v", r.LongLines[i], c.wantLong[i])
					}
				}
			}
		})
	}
}

func equalInts(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOffsets(t *testing.T) {
	in := "first\r\nsecond\n\nfourth"
	r := NewReader(strings.NewReader(in), 64)
	for r.Next() {
		if got := in[r.Offset() : r.Offset()+int64(len(r.Bytes()))]; got != string(r.Bytes()) {
			t.Errorf("line %d at offset %d is %q, input there %q", r.Line(), r.Offset(), r.Bytes(), got)
		}
	}
}

func TestManyLongLinesCounted(t *testing.T) {
	var b bytes.Buffer
	for range 25 {
		b.WriteString(strings.Repeat("x", 40) + "\n")
	}
	b.WriteString("end\n")
	r := NewReader(&b, 16)
	var got []string
	for r.Next() {
		got = append(got, string(r.Bytes()))
	}
	if len(got) != 1 || got[0] != "end" || r.LongCount != 25 || len(r.LongLines) != keepLong {
		t.Fatalf("lines %q, long %d (kept %d)", got, r.LongCount, len(r.LongLines))
	}
	w := r.Warnings("dns.log")
	if len(w) != keepLong+1 || w[0] != "dns.log: line 1 (offset 0): 41 bytes, longer than 16: skipped" || w[keepLong] != "dns.log: 15 more lines longer than 16 skipped" {
		t.Errorf("warnings %q", w)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := NewReader(io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)), 16)
	var got []string
	for r.Next() {
		got = append(got, string(r.Bytes()))
	}
	if !errors.Is(r.Err(), boom) || len(got) != 1 || got[0] != "a" {
		t.Errorf("lines %q, err %v", got, r.Err())
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nbb\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\nc"), uint8(4))
	f.Fuzz(func(t *testing.T, in []byte, max uint8) {
		m := int(max%64) + 1
		r := NewReader(bytes.NewReader(in), m)
		total := 0
		for r.Next() {
			if len(r.Bytes()) > m {
				t.Fatalf("line of %d bytes, max %d", len(r.Bytes()), m)
			}
			total++
		}
		// Every line is returned or counted as long.
		want := bytes.Count(in, []byte("\n"))
		if len(in) > 0 && in[len(in)-1] != '\n' {
			want++
		}
		if total+r.LongCount != want {
			t.Fatalf("%d lines + %d long, want %d", total, r.LongCount, want)
		}
	})
}

func TestDecompress(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("a\nb\n"))
	w.Close()
	for _, c := range []struct {
		name, in, want string
		wantErr        bool
	}{
		{"plain", "a\nb\n", "a\nb\n", false},
		{"gzip", gz.String(), "a\nb\n", false},
		{"empty", "", "", false},
		{"one byte", "\x1f", "\x1f", false},
		{"gzip header cut", gz.String()[:5], "", true},
	} {
		r, err := Decompress(strings.NewReader(c.in))
		if c.wantErr {
			if err == nil {
				t.Errorf("%s: no error", c.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
		}
	}
}
