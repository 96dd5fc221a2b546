package overlay

import (
	"os"
	"testing"
)

// BenchmarkLoadIntel loads a stored feed named by MG_BENCH_STATE (a state
// directory written by `minerguard intel update`), as scan and blocklist do.
func BenchmarkLoadIntel(b *testing.B) {
	dir := os.Getenv("MG_BENCH_STATE")
	if dir == "" {
		b.Skip("MG_BENCH_STATE not set")
	}
	for b.Loop() {
		if _, err := LoadIntel(dir); err != nil {
			b.Fatal(err)
		}
	}
}
