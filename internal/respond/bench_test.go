//go:build linux

package respond_test

import (
	"context"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/respond"
	"github.com/minerguard/minerguard/internal/scan"
)

// BenchmarkApplyUndo applies the infected fixture's plan (13 actions:
// line edits, quarantines, an account lock, with fsyncs) and undoes it.
func BenchmarkApplyUndo(b *testing.B) {
	root, state := b.TempDir(), b.TempDir()
	writeInfected(b, root)
	b.Cleanup(func() { clearFlags(root) })
	h, err := host.Offline(root)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rep, err := scan.Run(ctx, h, scan.Options{})
	if err != nil {
		b.Fatal(err)
	}
	plan, err := respond.Build(ctx, h, rep, nil, respond.Options{MinSeverity: findings.Medium})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		dir, err := respond.NewRunDir(state)
		if err != nil {
			b.Fatal(err)
		}
		j, err := respond.CreateJournal(dir, plan)
		if err != nil {
			b.Fatal(err)
		}
		a := &respond.Applier{Host: h, Journal: j}
		if _, err := a.Apply(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Undo(ctx); err != nil {
			b.Fatal(err)
		}
		j.Close()
	}
	b.ReportMetric(float64(len(plan.Actions)), "actions/op")
}
