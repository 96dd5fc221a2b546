// Package process builds one snapshot of the host's process table from
// /proc, shared by every process check so /proc is read once per scan.
package process

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Stat is the part of /proc/PID/stat minerguard uses.
type Stat struct {
	PID        int
	Comm       string
	State      byte
	PPID       int
	PGRP       int
	Session    int
	Flags      uint64
	UTime      uint64 // clock ticks
	STime      uint64
	NumThreads int
	StartTime  uint64 // clock ticks after boot
	VSize      uint64 // bytes
	RSSPages   int64
}

// pfKthread is PF_KTHREAD in the task flags: the kernel's own threads.
const pfKthread = 0x00200000

// Kernel reports whether the task is a kernel thread.
func (s Stat) Kernel() bool { return s.Flags&pfKthread != 0 }

// ParseStat parses /proc/PID/stat. The command name is between the first
// "(" and the last ")": it may itself contain spaces and parentheses.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return s, fmt.Errorf("stat: no (comm) field")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return s, fmt.Errorf("stat: pid: %w", err)
	}
	s.PID = pid
	s.Comm = string(b[open+1 : closing])
	f := strings.Fields(string(b[closing+1:]))
	// Fields after comm, numbered from 3 as in proc(5).
	if len(f) < 22 {
		return s, fmt.Errorf("stat: %d fields after comm, want at least 22", len(f))
	}
	if len(f[0]) != 1 {
		return s, fmt.Errorf("stat: state %q", f[0])
	}
	s.State = f[0][0]
	ints := []struct {
		idx int
		dst *int
	}{{1, &s.PPID}, {2, &s.PGRP}, {3, &s.Session}, {17, &s.NumThreads}}
	for _, v := range ints {
		n, err := strconv.Atoi(f[v.idx])
		if err != nil {
			return s, fmt.Errorf("stat: field %d: %w", v.idx+3, err)
		}
		*v.dst = n
	}
	uints := []struct {
		idx int
		dst *uint64
	}{{6, &s.Flags}, {11, &s.UTime}, {12, &s.STime}, {19, &s.StartTime}, {20, &s.VSize}}
	for _, v := range uints {
		n, err := strconv.ParseUint(f[v.idx], 10, 64)
		if err != nil {
			return s, fmt.Errorf("stat: field %d: %w", v.idx+3, err)
		}
		*v.dst = n
	}
	rss, err := strconv.ParseInt(f[21], 10, 64)
	if err != nil {
		return s, fmt.Errorf("stat: field 24: %w", err)
	}
	s.RSSPages = rss
	return s, nil
}

// Status is the part of /proc/PID/status minerguard uses.
type Status struct {
	Name    string
	Tgid    int
	PPid    int
	UID     [4]int // real, effective, saved, filesystem
	GID     [4]int
	VmRSSKB uint64
	Threads int
	// Kthread is set from the "Kthread:" line on kernels that have it.
	Kthread bool
}

// ParseStatus parses /proc/PID/status. Unknown lines are ignored; a known
// line with a bad value is an error naming it.
func ParseStatus(b []byte) (Status, error) {
	var s Status
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		v := strings.TrimSpace(string(val))
		var err error
		switch string(key) {
		case "Name":
			s.Name = unescapeStatusName(v)
		case "Tgid":
			s.Tgid, err = strconv.Atoi(v)
		case "PPid":
			s.PPid, err = strconv.Atoi(v)
		case "Uid":
			err = parseIDs(v, &s.UID)
		case "Gid":
			err = parseIDs(v, &s.GID)
		case "VmRSS":
			s.VmRSSKB, err = strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
		case "Threads":
			s.Threads, err = strconv.Atoi(v)
		case "Kthread":
			s.Kthread = v == "1"
		}
		if err != nil {
			return s, fmt.Errorf("status: %s: %w", key, err)
		}
	}
	return s, nil
}

func parseIDs(v string, dst *[4]int) error {
	f := strings.Fields(v)
	if len(f) != 4 {
		return fmt.Errorf("%d ids, want 4", len(f))
	}
	for i, s := range f {
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		dst[i] = n
	}
	return nil
}

// unescapeStatusName undoes the kernel's escaping of "\n" and "\\" in Name.
func unescapeStatusName(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\n`, "\n", `\\`, `\`).Replace(s)
}

// ParseNulList splits a NUL-separated list (cmdline, environ). A process
// that rewrote its argv may use spaces instead of NULs; that is kept as one
// element, as ps shows it.
func ParseNulList(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}
