package pkgdb

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/knqyf263/go-rpmdb/pkg/bdb"
	"github.com/knqyf263/go-rpmdb/pkg/ndb"
)

// The Berkeley DB and NDB page readers come from go-rpmdb and were written
// for trusted databases: on a corrupt one the BDB reader panics in a
// goroutine of its own (no recover can catch it) and the NDB reader can
// spin for a minute. The database of a scanned disk is attacker-controlled,
// so the readers run in a child process — minerguard (or the test binary)
// re-executed with childEnv set — which streams the header blobs back and
// is killed at its deadline. A crash or hang costs a warning, not the scan.

const (
	childEnv      = "MINERGUARD_RPMDB_READ" // "bdb:FILE" or "ndb:FILE"
	childDeadline = 20 * time.Second
	maxBlob       = 64 << 20
)

func init() {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(dumpStore(v, os.Stdout))
	}
}

// dumpStore writes every blob of the store as a 4-byte length and the
// bytes; a read error is a zero length, then the message.
func dumpStore(spec string, out io.Writer) int {
	kind, file, _ := strings.Cut(spec, ":")
	var r blobReader
	var err error
	switch kind {
	case "bdb":
		r, err = bdb.Open(file)
	case "ndb":
		r, err = ndb.Open(file)
	default:
		err = fmt.Errorf("unknown store %q", kind)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer r.Close()
	w := bufio.NewWriter(out)
	var n [4]byte
	for e := range r.Read() {
		if e.Err != nil {
			binary.BigEndian.PutUint32(n[:], 0)
			w.Write(n[:])
			msg := e.Err.Error()
			binary.BigEndian.PutUint32(n[:], uint32(len(msg)))
			w.Write(n[:])
			w.WriteString(msg)
			continue
		}
		binary.BigEndian.PutUint32(n[:], uint32(len(e.Value)))
		w.Write(n[:])
		w.Write(e.Value)
	}
	if err := w.Flush(); err != nil {
		return 2
	}
	return 0
}

// readStoreIsolated reads a bdb/ndb file through a child process and calls
// blob for each record (err set for a record the reader could not read).
func readStoreIsolated(kind, file string, blob func(b []byte, err error)) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot re-execute the scanner to read the database: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), childDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), childEnv+"="+kind+":"+file)
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	r := bufio.NewReader(stdout)
	var readErr error
	var n [4]byte
	for {
		if _, err := io.ReadFull(r, n[:]); err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		size := binary.BigEndian.Uint32(n[:])
		isErr := size == 0
		if isErr {
			if _, err := io.ReadFull(r, n[:]); err != nil {
				readErr = err
				break
			}
			size = binary.BigEndian.Uint32(n[:])
		}
		if size > maxBlob {
			readErr = fmt.Errorf("record of %d bytes", size)
			break
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			readErr = err
			break
		}
		if isErr {
			blob(nil, errors.New(string(b)))
		} else {
			blob(b, nil)
		}
	}
	io.Copy(io.Discard, r)
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("database reader gave up after %s (corrupt database?)", childDeadline)
	case waitErr != nil:
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i > 0 {
			msg = msg[:i]
		}
		return fmt.Errorf("database reader failed (%v): %s", waitErr, msg)
	case readErr != nil:
		return fmt.Errorf("database reader output: %w", readErr)
	}
	return nil
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
