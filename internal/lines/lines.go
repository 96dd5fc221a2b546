// Package lines reads text logs line by line with a bound on a line's
// length. A longer line (a corrupt region of NUL bytes after a crash,
// binary junk, a hostile record) is skipped and recorded with its line
// number and offset, and reading goes on: one bad line must not cost the
// rest of a multi-gigabyte log, as bufio.Scanner's "token too long" did.
package lines

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Long is a line that was skipped for its length.
type Long struct {
	Line   int   // 1-based line number
	Offset int64 // byte offset of its first byte
	Len    int64 // its length, newline included
}

// keepLong bounds how many skipped lines are remembered; all are counted.
const keepLong = 10

// Reader returns the lines of r without their "\n" or "\r\n".
type Reader struct {
	br    *bufio.Reader
	max   int
	line  []byte
	n     int
	start int64
	off   int64
	err   error

	// LongLines are the first skipped lines; LongCount counts them all.
	LongLines []Long
	LongCount int
}

// NewReader reads r with lines of up to max bytes (newline excluded).
func NewReader(r io.Reader, max int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, max+1), max: max}
}

// Next advances to the next line; false at the end of the input or on a
// read error (Err).
func (r *Reader) Next() bool {
	if r.err != nil {
		return false
	}
	for {
		r.start = r.off
		b, err := r.br.ReadSlice('\n')
		r.off += int64(len(b))
		// bufio has a minimum buffer size, so a line can fit the buffer
		// and still be longer than max.
		if errors.Is(err, bufio.ErrBufferFull) || contentLen(b) > r.max {
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = r.br.ReadSlice('\n')
				r.off += int64(len(b))
			}
			r.n++
			r.LongCount++
			if len(r.LongLines) < keepLong {
				r.LongLines = append(r.LongLines, Long{Line: r.n, Offset: r.start, Len: r.off - r.start})
			}
			if err != nil {
				if err != io.EOF {
					r.err = err
				}
				return false
			}
			continue
		}
		if err != nil && (err != io.EOF || len(b) == 0) {
			if err != io.EOF {
				r.err = err
			}
			return false
		}
		r.n++
		if len(b) > 0 && b[len(b)-1] == '\n' {
			b = b[:len(b)-1]
			if len(b) > 0 && b[len(b)-1] == '\r' {
				b = b[:len(b)-1]
			}
		}
		r.line = b
		return true
	}
}

// contentLen is b's length without its line ending.
func contentLen(b []byte) int {
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		n--
		if n > 0 && b[n-1] == '\r' {
			n--
		}
	}
	return n
}

// Bytes is the current line; valid until the next call to Next.
func (r *Reader) Bytes() []byte { return r.line }

// Line is the current line's 1-based number.
func (r *Reader) Line() int { return r.n }

// Offset is the byte offset of the current line's start.
func (r *Reader) Offset() int64 { return r.start }

// Err is the read error that ended reading, if any (not io.EOF).
func (r *Reader) Err() error { return r.err }

// Warnings describe the skipped lines for a report, naming the file.
func (r *Reader) Warnings(name string) []string {
	var out []string
	for _, l := range r.LongLines {
		out = append(out, fmt.Sprintf("%s: line %d (offset %d): %d bytes, longer than %d: skipped", name, l.Line, l.Offset, l.Len, r.max))
	}
	if more := r.LongCount - len(r.LongLines); more > 0 {
		out = append(out, fmt.Sprintf("%s: %d more lines longer than %d skipped", name, more, r.max))
	}
	return out
}
