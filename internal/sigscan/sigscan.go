// Package sigscan looks for miner byte signatures, packer marks and
// genuine-program markers inside executables, reading each distinct file
// once per scan (cached by device, inode, size and mtime).
package sigscan

import (
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
	"github.com/minerguard/minerguard/internal/sigscan/ahocorasick"
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
	db *intel.DB
	// ac holds every intel byte pattern in one automaton: signatures first,
	// then packer marks, then daemon markers (see kinds).
	ac    *ahocorasick.Automaton
	acErr error
	kinds []patKind
	mu    sync.Mutex
	cache map[key]*entry
	// bufs recycles read buffers: allocating and zeroing a fresh chunk per
	// file cost more than matching when a scan reads many small files.
	bufs sync.Pool
	// chunk is the read size (ChunkSize; tests shrink it to cross many
	// chunk boundaries).
	chunk int
}

// patKind says what an automaton pattern id stands for.
type patKind struct {
	kind  uint8 // kindSignature, kindPacker, kindMarker
	index int   // into Signatures.Patterns or Signatures.Packers
	text  string
}

const (
	kindSignature = iota
	kindPacker
	kindMarker
)

type entry struct {
	once sync.Once
	res  *Result
	err  error
}

// ChunkSize is how much of a file is read at a time: the automaton carries
// its state across chunks, so memory stays flat however large the file.
const ChunkSize = 1 << 20

// New returns a Scanner for db, building its automaton once.
func New(db *intel.DB) *Scanner {
	s := &Scanner{db: db, cache: map[key]*entry{}, chunk: ChunkSize}
	var pats []ahocorasick.Pattern
	add := func(k patKind, text string, fold bool) {
		s.kinds = append(s.kinds, k)
		pats = append(pats, ahocorasick.Pattern{Text: []byte(text), Fold: fold})
	}
	for i, p := range db.Signatures.Patterns {
		add(patKind{kind: kindSignature, index: i, text: p.Text}, p.Text, p.CaseInsensitive)
	}
	for i, p := range db.Signatures.Packers {
		if p.Text != "" {
			add(patKind{kind: kindPacker, index: i, text: p.Text}, p.Text, false)
		}
	}
	seen := map[string]bool{}
	for _, d := range db.Processes.Daemons {
		for _, m := range d.Markers {
			if m != "" && !seen[m] {
				seen[m] = true
				add(patKind{kind: kindMarker, text: m}, m, false)
			}
		}
	}
	s.ac, s.acErr = ahocorasick.New(pats)
	return s
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
	if s.acErr != nil {
		return r
	}
	st := s.ac.NewStream()
	st.Write(data)
	s.collect(st, r)
	return r
}

// scan streams the file through the automaton in ChunkSize pieces, up to
// MaxBytes. size is what Stat said; memfd and /proc files may say 0 and
// are then read until EOF (still bounded by MaxBytes).
func (s *Scanner) scan(f io.ReaderAt, size int64) (*Result, error) {
	if s.acErr != nil {
		return nil, s.acErr
	}
	st := s.ac.NewStream()
	size0 := min(s.chunk, MaxBytes)
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil || len(*bp) != size0 {
		b := make([]byte, size0)
		bp = &b
	}
	defer s.bufs.Put(bp)
	buf := *bp
	var off int64
	truncated := false
	for {
		if off >= MaxBytes {
			// Only truncated if there is something left past the limit.
			var one [1]byte
			n, _ := f.ReadAt(one[:], off)
			truncated = n > 0
			break
		}
		want := int64(len(buf))
		if rest := MaxBytes - off; rest < want {
			want = rest
		}
		n, err := f.ReadAt(buf[:want], off)
		if n > 0 {
			st.Write(buf[:n])
			off += int64(n)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("read executable at offset %d: %w", off, err)
		}
		if n == 0 {
			break
		}
		if st.Done() {
			// Every pattern was seen: the rest cannot change the result.
			truncated = false
			break
		}
	}
	if size <= 0 {
		size = off
	}
	r := &Result{Size: size, Truncated: truncated || size > MaxBytes && !st.Done()}
	s.collect(st, r)
	return r, nil
}

// collect turns the automaton's hits into a Result.
func (s *Scanner) collect(st *ahocorasick.Stream, r *Result) {
	fams := map[string]bool{}
	packer := -1
	for id, k := range s.kinds {
		if !st.Found(id) {
			continue
		}
		switch k.kind {
		case kindSignature:
			p := s.db.Signatures.Patterns[k.index]
			r.Signatures = append(r.Signatures, p.ID)
			r.Score += p.Weight
			if p.Family != "" {
				fams[p.Family] = true
			}
		case kindPacker:
			// The first packer in intel order wins, as in the list.
			if packer < 0 || k.index < packer {
				packer = k.index
			}
		case kindMarker:
			if r.Markers == nil {
				r.Markers = map[string]bool{}
			}
			r.Markers[k.text] = true
		}
	}
	if packer >= 0 {
		r.Packer = s.db.Signatures.Packers[packer].Name
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
	return HashReader(f)
}

// HashReader returns the hex SHA-256 of everything r yields: the one way
// evidence hashes are computed.
func HashReader(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
