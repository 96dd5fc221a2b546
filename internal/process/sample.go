package process

import (
	"context"
	"strconv"
	"time"

	"github.com/minerguard/minerguard/internal/host"
)

// Ticks is a CPU-time reading of one process and its threads.
type Ticks struct {
	Proc    uint64
	Threads map[int]uint64
}

// Reading is a CPU-time snapshot of many processes at one instant.
type Reading struct {
	At    time.Time
	Ticks map[int]Ticks
}

// ReadTicks reads utime+stime of every process in t and of each thread.
func ReadTicks(proc host.Proc, t *Table) Reading {
	r := Reading{At: time.Now(), Ticks: make(map[int]Ticks, t.Len())}
	for _, p := range t.All() {
		if p.Kernel() {
			// Kernel threads are attributed to no user program.
			if b, err := proc.ReadFile(p.PID, "stat"); err == nil {
				if st, err := ParseStat(b); err == nil {
					r.Ticks[p.PID] = Ticks{Proc: st.UTime + st.STime}
				}
			}
			continue
		}
		r.Ticks[p.PID] = readProcTicks(proc, p.PID)
	}
	return r
}

func readProcTicks(proc host.Proc, pid int) Ticks {
	tk := Ticks{}
	if b, err := proc.ReadFile(pid, "stat"); err == nil {
		if st, err := ParseStat(b); err == nil {
			tk.Proc = st.UTime + st.STime
			if st.NumThreads <= 1 {
				return tk
			}
		}
	}
	entries, err := proc.ReadDir(pid, "task")
	if err != nil {
		return tk
	}
	tk.Threads = make(map[int]uint64, len(entries))
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := proc.ReadFile(pid, "task/"+e.Name()+"/stat")
		if err != nil {
			continue
		}
		if st, err := ParseStat(b); err == nil {
			tk.Threads[tid] = st.UTime + st.STime
		}
	}
	return tk
}

// Sample reads CPU times, waits d (or until ctx ends), reads them again and
// fills CPUPercent, TreeCPUPercent and Threads of every process in t.
func Sample(ctx context.Context, proc host.Proc, t *Table, d time.Duration) error {
	before := ReadTicks(proc, t)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
	}
	after := ReadTicks(proc, t)
	Apply(t, before, after, proc.ClockTicks())
	return nil
}

// Apply computes CPU percentages from two readings.
func Apply(t *Table, before, after Reading, hz int) {
	secs := after.At.Sub(before.At).Seconds()
	if secs <= 0 || hz <= 0 {
		return
	}
	pct := func(a, b uint64) float64 {
		if b < a {
			return 0
		}
		return float64(b-a) / float64(hz) / secs * 100
	}
	for _, p := range t.All() {
		b, ok1 := before.Ticks[p.PID]
		a, ok2 := after.Ticks[p.PID]
		if !ok1 || !ok2 {
			continue
		}
		p.CPUPercent = pct(b.Proc, a.Proc)
		if len(a.Threads) > 0 {
			p.Threads = make(map[int]float64, len(a.Threads))
			for tid, at := range a.Threads {
				if bt, ok := b.Threads[tid]; ok {
					p.Threads[tid] = pct(bt, at)
				}
			}
		}
	}
	for _, p := range t.All() {
		p.TreeCPUPercent = p.CPUPercent
		for _, d := range t.Descendants(p.PID) {
			p.TreeCPUPercent += d.CPUPercent
		}
	}
}
