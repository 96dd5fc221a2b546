package sigscan

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/intel"
)

// naiveMatch is the matcher sigscan used before the automaton (one
// bytes.Contains per pattern over a lower-cased copy): the reference the
// automaton must agree with.
func naiveMatch(db *intel.DB, data []byte, r *Result) {
	var lower []byte
	fams := map[string]bool{}
	for _, p := range db.Signatures.Patterns {
		hay := data
		needle := []byte(p.Text)
		if p.CaseInsensitive {
			if lower == nil {
				lower = bytes.ToLower(data)
			}
			hay = lower
			needle = bytes.ToLower(needle)
		}
		if bytes.Contains(hay, needle) {
			r.Signatures = append(r.Signatures, p.ID)
			r.Score += p.Weight
			if p.Family != "" {
				fams[p.Family] = true
			}
		}
	}
	for _, p := range db.Signatures.Packers {
		if bytes.Contains(data, []byte(p.Text)) {
			r.Packer = p.Name
			break
		}
	}
	for _, d := range db.Processes.Daemons {
		for _, m := range d.Markers {
			if bytes.Contains(data, []byte(m)) {
				if r.Markers == nil {
					r.Markers = map[string]bool{}
				}
				r.Markers[m] = true
			}
		}
	}
	for f := range fams {
		r.Families = append(r.Families, f)
	}
	sort.Strings(r.Families)
	sort.Strings(r.Signatures)
	r.Matched = r.Score >= db.Signatures.Threshold
}

// allTexts lists every pattern the scanner looks for.
func allTexts(db *intel.DB) []string {
	var out []string
	for _, p := range db.Signatures.Patterns {
		out = append(out, p.Text)
	}
	for _, p := range db.Signatures.Packers {
		out = append(out, p.Text)
	}
	for _, d := range db.Processes.Daemons {
		out = append(out, d.Markers...)
	}
	return out
}

// randomCase flips the case of ASCII letters at random, so case-sensitive
// patterns are planted both right and wrong.
func randomCase(r *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if r.IntN(3) == 0 {
			switch {
			case 'a' <= c && c <= 'z':
				b[i] = c - 32
			case 'A' <= c && c <= 'Z':
				b[i] = c + 32
			}
		}
	}
	return string(b)
}

// synthetic builds size bytes of binary-looking data (random bytes and
// symbol-like text) with the given strings planted at random offsets.
func synthetic(r *rand.Rand, size int, plant []string) []byte {
	data := make([]byte, size)
	words := []string{"__libc_start_main", "GLIBC_2.34", ".text", "malloc", "pthread_create", "runtime.gopark", "mining", "stratum", "Xmr", "donate"}
	for i := 0; i < size; {
		if r.IntN(32) == 0 {
			w := words[r.IntN(len(words))]
			i += copy(data[i:], w)
			continue
		}
		data[i] = byte(r.UintN(256))
		i++
	}
	for _, p := range plant {
		if len(p) < size {
			copy(data[r.IntN(size-len(p)):], p)
		}
	}
	return data
}

func writeTemp(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func scanPath(t testing.TB, s *Scanner, p string) *Result {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := s.ScanFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAutomatonMatchesNaive is the property test: on random data with
// planted patterns (in random case), ScanBytes and the chunked ScanFile
// give exactly what the old per-pattern matcher gave.
func TestAutomatonMatchesNaive(t *testing.T) {
	db := intel.MustLoad()
	s := New(db)
	texts := allTexts(db)
	r := rand.New(rand.NewPCG(7, 9))
	for iter := 0; iter < 300; iter++ {
		var plant []string
		for range r.IntN(6) {
			plant = append(plant, randomCase(r, texts[r.IntN(len(texts))]))
		}
		data := synthetic(r, 64+r.IntN(8192), plant)
		want := &Result{Size: int64(len(data))}
		naiveMatch(db, data, want)
		if got := s.ScanBytes(data); !reflect.DeepEqual(got, want) {
			t.Fatalf("iter %d planted %q:\n got %+v\nwant %+v", iter, plant, got, want)
		}
	}
}

// TestChunkBoundary plants every pattern straddling a chunk edge (chunks
// shrunk to 4 KiB) and checks the streaming scan of a real file finds it.
func TestChunkBoundary(t *testing.T) {
	const chunk = 4096
	db := intel.MustLoad()
	r := rand.New(rand.NewPCG(11, 13))
	base := synthetic(r, 3*chunk+100, nil)
	p := filepath.Join(t.TempDir(), "bin")
	for _, text := range allTexts(db) {
		for back := 1; back < len(text); back++ {
			data := bytes.Clone(base)
			copy(data[2*chunk-back:], text)
			want := &Result{Size: int64(len(data))}
			naiveMatch(db, data, want)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			// A fresh scanner each time: the file keeps its inode and size.
			s := New(db)
			s.chunk = chunk
			got := scanPath(t, s, p)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q split %d|%d:\n got %+v\nwant %+v", text, back, len(text)-back, got, want)
			}
			if !slices.Contains(allFound(db, got), text) {
				t.Fatalf("%q split %d|%d not found: %+v", text, back, len(text)-back, got)
			}
		}
	}
}

// allFound lists the texts of everything a result reports.
func allFound(db *intel.DB, r *Result) []string {
	var out []string
	for _, p := range db.Signatures.Patterns {
		if slices.Contains(r.Signatures, p.ID) {
			out = append(out, p.Text)
		}
	}
	for _, p := range db.Signatures.Packers {
		if p.Name == r.Packer {
			out = append(out, p.Text)
		}
	}
	for m := range r.Markers {
		out = append(out, m)
	}
	return out
}

func TestScanFileFamiliesPackerMarkers(t *testing.T) {
	db := intel.MustLoad()
	data := []byte("\x7fELF....XMRig/6.21 stratum+tcp://pool mining.subscribe donate-level ...UPX!... Py_Initialize")
	p := writeTemp(t, data)
	s := New(db)
	r := scanPath(t, s, p)
	if !r.Matched || r.Packer != "UPX" || !r.Markers["Py_Initialize"] || !reflect.DeepEqual(r.Families, []string{"xmrig"}) {
		t.Fatalf("result %+v", r)
	}
	wantSigs := []string{"stratum-subscribe", "stratum-tcp", "xmrig-donate-level", "xmrig-name"}
	if !reflect.DeepEqual(r.Signatures, wantSigs) || r.Score != 5+6+6+4 || r.Size != int64(len(data)) || r.Truncated {
		t.Fatalf("signatures %v score %d size %d trunc %v", r.Signatures, r.Score, r.Size, r.Truncated)
	}
	// Same inode, size and mtime: the cached result comes back.
	if again := scanPath(t, s, p); again != r {
		t.Fatal("second scan of the same file was not served from the cache")
	}
	benign := scanPath(t, s, writeTemp(t, []byte(strings.Repeat("hello world ", 1000))))
	if benign.Matched || benign.Score != 0 || benign.Packer != "" || benign.Markers != nil {
		t.Fatalf("benign %+v", benign)
	}
}

func TestTruncatedAtMaxBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 65 MiB file")
	}
	db := intel.MustLoad()
	data := make([]byte, MaxBytes+10)
	copy(data[MaxBytes+1:], "UPX!") // past the limit: must not be seen
	copy(data[100:], "stratum+tcp://")
	r := scanPath(t, New(db), writeTemp(t, data))
	if !r.Truncated || r.Packer != "" || r.Size != int64(len(data)) || !reflect.DeepEqual(r.Signatures, []string{"stratum-tcp"}) {
		t.Fatalf("result %+v", r)
	}
}

func benchData(b *testing.B) []byte {
	db := intel.MustLoad()
	r := rand.New(rand.NewPCG(5, 6))
	return synthetic(r, 8<<20, []string{"stratum+tcp://", "Py_Initialize", allTexts(db)[0]})
}

// BenchmarkScan streams an 8 MiB synthetic binary from a file through the
// automaton (the real path: ScanFile, uncached).
func BenchmarkScan(b *testing.B) {
	db := intel.MustLoad()
	p := writeTemp(b, benchData(b))
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := New(db)
	b.SetBytes(8 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.scan(f, 8<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanNaive is the old matcher on the same file: one big read,
// a lower-cased copy, then bytes.Contains per pattern.
func BenchmarkScanNaive(b *testing.B) {
	db := intel.MustLoad()
	p := writeTemp(b, benchData(b))
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(8 << 20)
	b.ReportAllocs()
	for b.Loop() {
		buf := make([]byte, 8<<20)
		n, _ := f.ReadAt(buf, 0)
		r := &Result{}
		naiveMatch(db, buf[:n], r)
	}
}

// realBinary is a large real executable that is not minerguard (whose
// own binary holds every pattern as intel data and would stop early):
// the go tool that runs the tests.
func realBinary(b *testing.B) (string, int64) {
	p, err := exec.LookPath("go")
	if err != nil {
		b.Skip("go tool not in PATH")
	}
	if p, err = filepath.EvalSymlinks(p); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	return p, st.Size()
}

// BenchmarkScanRealBinary and BenchmarkScanRealBinaryNaive compare the
// two matchers on a real executable.
func BenchmarkScanRealBinary(b *testing.B) {
	p, size := realBinary(b)
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := New(intel.MustLoad())
	b.SetBytes(size)
	for b.Loop() {
		if _, err := s.scan(f, size); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanRealBinaryNaive(b *testing.B) {
	p, size := realBinary(b)
	db := intel.MustLoad()
	b.SetBytes(size)
	for b.Loop() {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		naiveMatch(db, data, &Result{})
	}
}
