// Package sigscan looks for miner byte signatures, packer marks and
// genuine-program markers inside executables, reading each distinct file
// once per scan (cached by device, inode, size and mtime).
package sigscan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
)

// MaxBytes bounds how much of one file is read: miners are a few MiB, and
// a multi-hundred-MiB browser binary must not blow the scan's budget.
const MaxBytes = 64 << 20

// Result is what was found in one file.
type Result struct {
	Size      int64
	Truncated bool
	// Signatures lists the ids of miner signatures found, sorted.
	Signatures []string
	// Score is the sum of the weights of the distinct signatures found.
	Score int
	// Families are the program families named by matched signatures.
	Families []string
	// Packer names the packer whose mark was found ("" for none).
	Packer string
	// Markers are the genuine-program markers (intel daemons[].markers) found.
	Markers map[string]bool
	// Matched says whether Score reached the intel threshold.
	Matched bool
}

type key struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

// Scanner scans files against one intel set; safe for concurrent use.
type Scanner struct {
	db    *intel.DB
	mu    sync.Mutex
	cache map[key]*entry
}

type entry struct {
	once sync.Once
	res  *Result
	err  error
}

// New returns a Scanner for db.
func New(db *intel.DB) *Scanner {
	return &Scanner{db: db, cache: map[key]*entry{}}
}

// ScanExe scans the executable behind /proc/PID/exe (deleted or memfd files included).
func (s *Scanner) ScanExe(proc host.Proc, pid int) (*Result, error) {
	f, err := proc.OpenExe(pid)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.ScanFile(f)
}

// ScanFile scans an open file, using the cache when the same file was seen.
func (s *Scanner) ScanFile(f host.File) (*Result, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	k := key{size: st.Size(), mtime: st.ModTime()}
	k.dev, k.ino = fileID(st)
	cacheable := k.ino != 0
	if !cacheable {
		return s.scan(f, st.Size())
	}
	s.mu.Lock()
	e, ok := s.cache[k]
	if !ok {
		e = &entry{}
		s.cache[k] = e
	}
	s.mu.Unlock()
	e.once.Do(func() { e.res, e.err = s.scan(f, st.Size()) })
	return e.res, e.err
}

// ScanBytes scans a buffer (scripts, configs, tests).
func (s *Scanner) ScanBytes(data []byte) *Result {
	r := &Result{Size: int64(len(data))}
	s.match(data, r)
	return r
}

func (s *Scanner) scan(f io.ReaderAt, size int64) (*Result, error) {
	n := size
	if n > MaxBytes || n <= 0 {
		n = MaxBytes
	}
	buf := make([]byte, n)
	read, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read executable: %w", err)
	}
	buf = buf[:read]
	r := &Result{Size: size, Truncated: size > MaxBytes}
	s.match(buf, r)
	return r, nil
}

func (s *Scanner) match(data []byte, r *Result) {
	var lower []byte
	fams := map[string]bool{}
	for _, p := range s.db.Signatures.Patterns {
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
	for _, p := range s.db.Signatures.Packers {
		if bytes.Contains(data, []byte(p.Text)) {
			r.Packer = p.Name
			break
		}
	}
	for _, d := range s.db.Processes.Daemons {
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
	r.Matched = r.Score >= s.db.Signatures.Threshold
}

// SHA256 hashes the executable behind /proc/PID/exe.
func SHA256(proc host.Proc, pid int) (string, error) {
	f, err := proc.OpenExe(pid)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
