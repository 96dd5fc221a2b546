package netsense_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/netsense"
	"github.com/minerguard/minerguard/internal/testkit/dnsloggen"
	"github.com/minerguard/minerguard/internal/testkit/pcapgen"
)

var (
	captureOnce sync.Once
	captureData []byte
	captureErr  error
)

// benchCapture is a 64 MiB mixed capture, generated once per test binary.
func benchCapture(b *testing.B) []byte {
	captureOnce.Do(func() {
		w := &byteWriter{}
		_, captureErr = pcapgen.Generate(w, pcapgen.Config{Size: 64 << 20, Seed: 3})
		captureData = w.b
	})
	if captureErr != nil {
		b.Fatal(captureErr)
	}
	return captureData
}

type byteWriter struct{ b []byte }

func (w *byteWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

type sliceReader struct {
	b []byte
	i int
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

// BenchmarkReadCapture: the whole pcap path (decode, flow table,
// reassembly, protocol recognition, judging) over a mixed capture.
func BenchmarkReadCapture(b *testing.B) {
	data := benchCapture(b)
	db := intel.MustLoad()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		a := netsense.NewAnalyzer(db)
		if err := a.ReadCapture(context.Background(), &sliceReader{b: data}, "bench.pcap"); err != nil {
			b.Fatal(err)
		}
		if n := len(a.Findings()); n != 11 {
			b.Fatalf("%d findings, want the 6 planted sessions and 5 lookups", n)
		}
	}
}

// heapSampler reads a capture file and records the live heap (after a
// collection) every few MiB read: the analyzer's working set, not the
// garbage the collector has not reached yet.
type heapSampler struct {
	r          io.Reader
	n, next    int64
	every      int64
	peak, last uint64
}

func (h *heapSampler) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.n += int64(n)
	if h.n >= h.next {
		h.next += h.every
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		h.last = m.HeapAlloc
		h.peak = max(h.peak, m.HeapAlloc)
	}
	return n, err
}

// TestCaptureMemoryFlat: the analyzer's live heap does not grow with the
// length of a capture. Flows close (FIN, RST), go idle or are evicted, and
// TLS and binary streams are not buffered, so a capture twelve times
// longer needs about the same memory. (Heap bytes, not timing.)
func TestCaptureMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~100 MiB of captures")
	}
	dir := t.TempDir()
	db := intel.MustLoad()
	peak := map[int64]uint64{}
	for _, size := range []int64{8 << 20, 96 << 20} {
		path := filepath.Join(dir, fmt.Sprint(size))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pcapgen.Generate(f, pcapgen.Config{Size: size, Seed: 5}); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		f, err = os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		h := &heapSampler{r: f, every: 2 << 20}
		a := netsense.NewAnalyzer(db)
		err = a.ReadCapture(context.Background(), h, path)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(a.Findings()); n != 11 {
			t.Fatalf("%d MiB: %d findings, want 11", size>>20, n)
		}
		peak[size] = h.peak - min(h.peak, base.HeapAlloc)
		t.Logf("%3d MiB capture: peak live heap %.1f MiB above the start", size>>20, float64(peak[size])/(1<<20))
		runtime.KeepAlive(a)
	}
	small, large := peak[8<<20], peak[96<<20]
	// Twelve times the input: allow 1.5x plus 4 MiB of noise, never 12x.
	if large > small*3/2+4<<20 {
		t.Errorf("live heap grows with the capture: %d MiB for 8 MiB, %d MiB for 96 MiB", small>>20, large>>20)
	}
	if large > 64<<20 {
		t.Errorf("live heap %d MiB: want under 64 MiB", large>>20)
	}
}

var (
	dnsLogOnce sync.Once
	dnsLogData []byte
)

// benchDNSLog is a 1,000,000-line dnsmasq log, generated once.
func benchDNSLog(tb testing.TB) []byte {
	dnsLogOnce.Do(func() {
		w := &byteWriter{}
		if _, err := dnsloggen.Generate(w, dnsloggen.Config{Lines: 1000000, Seed: 9, Pools: poolNames()}); err != nil {
			panic(err)
		}
		dnsLogData = w.b
	})
	return dnsLogData
}

func poolNames() []string {
	var out []string
	for _, d := range intel.MustLoad().Domains {
		out = append(out, d.Domain)
	}
	return out
}

// BenchmarkDNSLogDnsmasq: net logs over a dnsmasq --log-queries log (a
// query, forwarded/reply or cached lines each, 0.2% pool lookups, 0.2%
// near misses).
func BenchmarkDNSLogDnsmasq(b *testing.B) {
	data := benchDNSLog(b)
	db := intel.MustLoad()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		a := netsense.NewAnalyzer(db)
		matched, _, err := a.ReadDNSLog(context.Background(), &sliceReader{b: data}, "bench.log")
		if err != nil || matched == 0 {
			b.Fatal(matched, err)
		}
	}
}

// TestDNSLogMemoryFlat: reading a resolver log ten times longer needs
// about the same live heap; what grows is only the findings themselves
// (one per client and flagged name), not anything per line.
func TestDNSLogMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~80 MiB of logs")
	}
	dir := t.TempDir()
	db := intel.MustLoad()
	peak := map[int]uint64{}
	found := map[int]int{}
	for _, lines := range []int{100000, 1000000} {
		path := filepath.Join(dir, fmt.Sprint(lines))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dnsloggen.Generate(f, dnsloggen.Config{Lines: lines, Seed: 6, Pools: poolNames()}); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		f, err = os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		h := &heapSampler{r: f, every: 4 << 20}
		a := netsense.NewAnalyzer(db)
		matched, _, err := a.ReadDNSLog(context.Background(), h, path)
		f.Close()
		if err != nil || matched == 0 {
			t.Fatal(matched, err)
		}
		found[lines] = len(a.Findings())
		peak[lines] = h.peak - min(h.peak, base.HeapAlloc)
		t.Logf("%7d lines: peak live heap %.2f MiB above the start, %d findings", lines, float64(peak[lines])/(1<<20), found[lines])
		runtime.KeepAlive(a)
	}
	small, large := peak[100000], peak[1000000]
	// Allow each extra finding 4 KiB (its strings and map entries), and
	// 2 MiB of noise; a per-line cost would be 10x.
	allow := small*3/2 + uint64(found[1000000]-found[100000])*4096 + 2<<20
	if large > allow {
		t.Errorf("live heap grows with the log: %d KiB for 100k lines, %d KiB for 1M (allowed %d KiB)", small>>10, large>>10, allow>>10)
	}
}
