package ahocorasick

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// naiveFirstEnd is the reference: bytes.Index on (folded) copies.
func naiveFirstEnd(data []byte, p Pattern) int64 {
	hay, needle := data, p.Text
	if p.Fold {
		hay, needle = foldAll(data), foldAll(p.Text)
	}
	i := bytes.Index(hay, needle)
	if i < 0 {
		return -1
	}
	return int64(i + len(needle))
}

func foldAll(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = fold(c)
	}
	return out
}

// scanSplit feeds data to a new stream in pieces cut at the given offsets.
func scanSplit(t testing.TB, a *Automaton, data []byte, cuts ...int) *Stream {
	t.Helper()
	s := a.NewStream()
	prev := 0
	for _, c := range cuts {
		if c < prev || c > len(data) {
			continue
		}
		s.Write(data[prev:c])
		prev = c
	}
	s.Write(data[prev:])
	return s
}

func check(t testing.TB, pats []Pattern, data []byte, cuts ...int) {
	t.Helper()
	a, err := New(pats)
	if err != nil {
		t.Fatal(err)
	}
	s := scanSplit(t, a, data, cuts...)
	for id, p := range pats {
		want := naiveFirstEnd(data, p)
		if got := s.FirstEnd(id); got != want {
			t.Fatalf("pattern %d %q fold=%v in %q (cuts %v): first end %d, want %d", id, p.Text, p.Fold, data, cuts, got, want)
		}
	}
}

func TestKnownCases(t *testing.T) {
	pats := []Pattern{
		{Text: []byte("he")}, {Text: []byte("she")}, {Text: []byte("his")}, {Text: []byte("hers")},
		{Text: []byte("XMRig"), Fold: true}, {Text: []byte("eth_submitLogin")}, {Text: []byte("UPX!")},
		{Text: []byte("a\x00b")}, {Text: []byte("ushers")},
	}
	tests := []struct {
		name string
		data string
		cuts []int
	}{
		{"classic", "ushers", nil},
		{"fold", "the xmrig miner", nil},
		{"fold-upper", "XMRIG", nil},
		{"sensitive-wrong-case", "eth_submitlogin ETH_SUBMITLOGIN", nil},
		{"sensitive-right", "xx eth_submitLogin", nil},
		{"sensitive-split", "xx eth_submitLogin yy", []int{5, 6, 7, 15}},
		{"sensitive-split-wrong", "eth_submitlogin", []int{3, 14}},
		{"nul", "a\x00b", []int{1, 2}},
		{"upx", "....UPX!....upx!", []int{6}},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { check(t, pats, []byte(tc.data), tc.cuts...) })
	}
}

func TestEmptyPatternAndNoPatterns(t *testing.T) {
	check(t, nil, []byte("anything"))
	check(t, []Pattern{{Text: nil}, {Text: []byte("x")}}, []byte("abc"))
}

func TestDoneStopsEarly(t *testing.T) {
	a, _ := New([]Pattern{{Text: []byte("ab")}})
	s := a.NewStream()
	s.Write([]byte("xxab"))
	if !s.Done() || s.FirstEnd(0) != 4 {
		t.Fatalf("done=%v end=%d", s.Done(), s.FirstEnd(0))
	}
	s.Write([]byte("ab"))
	if s.FirstEnd(0) != 4 || s.Offset() != 6 {
		t.Fatalf("end=%d off=%d", s.FirstEnd(0), s.Offset())
	}
}

// TestRandomAgainstNaive plants patterns over a small alphabet (so partial
// matches and overlaps are frequent) and compares with bytes.Index.
func TestRandomAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alpha := []byte("abAB.!\x00")
	for iter := 0; iter < 2000; iter++ {
		var pats []Pattern
		for range 1 + r.IntN(8) {
			p := make([]byte, 1+r.IntN(6))
			for i := range p {
				p[i] = alpha[r.IntN(len(alpha))]
			}
			pats = append(pats, Pattern{Text: p, Fold: r.IntN(2) == 0})
		}
		data := make([]byte, r.IntN(200))
		for i := range data {
			data[i] = alpha[r.IntN(len(alpha))]
		}
		var cuts []int
		for range r.IntN(5) {
			cuts = append(cuts, r.IntN(len(data)+1))
		}
		sortInts(cuts)
		check(t, pats, data, cuts...)
	}
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// FuzzAhoCorasick: the fuzzer chooses data, up to four patterns (split out
// of a pattern blob at 0xff bytes, the first byte of each being its fold
// flag) and one cut point.
func FuzzAhoCorasick(f *testing.F) {
	f.Add([]byte("ushers and XMRig"), []byte("\x00he\xff\x01xmrig\xff\x00she"), uint16(3))
	f.Add([]byte("eth_submitlogin"), []byte("\x00eth_submitLogin"), uint16(7))
	f.Add([]byte("aaaaaa"), []byte("\x01AA\xff\x00aaa"), uint16(1))
	f.Fuzz(func(t *testing.T, data, blob []byte, cut uint16) {
		var pats []Pattern
		for _, part := range bytes.Split(blob, []byte{0xff}) {
			if len(pats) == 4 {
				break
			}
			if len(part) == 0 {
				continue
			}
			pats = append(pats, Pattern{Text: part[1:], Fold: part[0]&1 == 1})
		}
		c := int(cut) % (len(data) + 1)
		check(t, pats, data, c)
	})
}

func BenchmarkStream(b *testing.B) {
	a, _ := New([]Pattern{{Text: []byte("stratum+tcp://")}, {Text: []byte("xmrig"), Fold: true}})
	data := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := a.NewStream()
		s.Write(data)
	}
}
