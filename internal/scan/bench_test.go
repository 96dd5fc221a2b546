package scan_test

import (
	"context"
	"testing"

	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/scan"
)

// BenchmarkScanLive measures one full scan of this machine without the CPU
// sample window (which is a fixed sleep): the cost of reading /proc,
// sockets and executables and running every check. scripts/bench-scan.sh
// measures the whole command under load.
func BenchmarkScanLive(b *testing.B) {
	h, err := host.Live()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	procs := 0
	for b.Loop() {
		rep, err := scan.Run(ctx, h, scan.Options{Sample: 0})
		if err != nil {
			b.Fatal(err)
		}
		procs = rep.Host.Processes
	}
	b.ReportMetric(float64(procs), "procs")
}
