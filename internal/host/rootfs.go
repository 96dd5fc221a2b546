package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxSymlinks bounds link resolution, as the kernel's ELOOP limit does.
const maxSymlinks = 40

// RootFS reads files under a directory that stands for the host's "/".
type RootFS struct {
	dir string // absolute, cleaned; "/" for the live host
}

// NewRootFS returns an FS rooted at dir.
func NewRootFS(dir string) (*RootFS, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("root %s: not a directory", dir)
	}
	return &RootFS{dir: abs}, nil
}

// Dir is the real directory of the root.
func (r *RootFS) Dir() string { return r.dir }

// clean turns a host path into a cleaned absolute slash path.
func clean(name string) string {
	return path.Clean("/" + filepath.ToSlash(name))
}

// resolve maps a host path to a real path, following symlinks inside the
// root; followLast says whether a final symlink is followed (Stat) or not
// (Lstat, Readlink).
func (r *RootFS) resolve(name string, followLast bool) (string, error) {
	name = clean(name)
	if r.dir == "/" || r.dir == `\` || (len(r.dir) == 3 && r.dir[1] == ':') {
		// The live root needs no confinement: links mean what the kernel says.
		return filepath.FromSlash(name), nil
	}
	parts := strings.Split(strings.TrimPrefix(name, "/"), "/")
	resolved := "/"
	links := 0
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		if p == "" || p == "." {
			continue
		}
		if p == ".." {
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, p)
		last := i == len(parts)-1
		if last && !followLast {
			resolved = next
			break
		}
		real := filepath.Join(r.dir, filepath.FromSlash(next))
		st, err := os.Lstat(real)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			// Missing components are reported by the operation itself.
			resolved = next
			continue
		}
		links++
		if links > maxSymlinks {
			return "", &fs.PathError{Op: "resolve", Path: name, Err: errors.New("too many levels of symbolic links")}
		}
		target, err := os.Readlink(real)
		if err != nil {
			return "", err
		}
		target = filepath.ToSlash(target)
		if !strings.HasPrefix(target, "/") {
			target = path.Join(resolved, target)
		}
		rest := append(strings.Split(strings.TrimPrefix(path.Clean(target), "/"), "/"), parts[i+1:]...)
		parts = rest
		i = -1
		resolved = "/"
	}
	return filepath.Join(r.dir, filepath.FromSlash(resolved)), nil
}

// RealPath returns where name lives on this machine, links resolved in the root.
func (r *RootFS) RealPath(name string) (string, error) { return r.resolve(name, true) }

// MaxReadFile bounds ReadFile: host files are untrusted, and a multi-GiB
// "crontab" must not exhaust memory. Checks that need more stream via Open.
const MaxReadFile = 64 << 20

// ErrNotRegular is returned for FIFOs, sockets and devices, which a scan
// never reads: opening a FIFO planted in an offline root would block forever.
var ErrNotRegular = errors.New("not a regular file")

// Open opens a regular host file (directories too, for their metadata).
func (r *RootFS) Open(name string) (File, error) {
	p, err := r.resolve(name, true)
	if err != nil {
		return nil, err
	}
	// Non-blocking, so a FIFO cannot hang the open; it is refused below.
	f, err := os.OpenFile(p, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, r.hostErr(err, name)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, r.hostErr(err, name)
	}
	if !st.Mode().IsRegular() && !st.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: clean(name), Err: ErrNotRegular}
	}
	return f, nil
}

// ReadFile reads a whole regular host file of at most MaxReadFile bytes.
func (r *RootFS) ReadFile(name string) ([]byte, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, r.hostErr(err, name)
	}
	if st.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: clean(name), Err: errors.New("is a directory")}
	}
	if st.Size() > MaxReadFile {
		return nil, &fs.PathError{Op: "read", Path: clean(name), Err: fmt.Errorf("file of %d bytes is over the %d-byte limit", st.Size(), MaxReadFile)}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxReadFile+1))
	if err != nil {
		return nil, r.hostErr(err, name)
	}
	if len(b) > MaxReadFile {
		return nil, &fs.PathError{Op: "read", Path: clean(name), Err: fmt.Errorf("file grew over the %d-byte limit", MaxReadFile)}
	}
	return b, nil
}

// Stat follows links inside the root.
func (r *RootFS) Stat(name string) (fs.FileInfo, error) {
	p, err := r.resolve(name, true)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(p)
	return st, r.hostErr(err, name)
}

// Lstat does not follow a final link.
func (r *RootFS) Lstat(name string) (fs.FileInfo, error) {
	p, err := r.resolve(name, false)
	if err != nil {
		return nil, err
	}
	st, err := os.Lstat(p)
	return st, r.hostErr(err, name)
}

// ReadDir lists a host directory, sorted by name.
func (r *RootFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := r.resolve(name, true)
	if err != nil {
		return nil, err
	}
	es, err := os.ReadDir(p)
	return es, r.hostErr(err, name)
}

// Readlink returns a link's target as stored (host-relative meaning).
func (r *RootFS) Readlink(name string) (string, error) {
	p, err := r.resolve(name, false)
	if err != nil {
		return "", err
	}
	t, err := os.Readlink(p)
	return t, r.hostErr(err, name)
}

// hostErr rewrites a path error to name the host path, not the real one, so
// messages read "/etc/crontab" whatever --root was.
func (r *RootFS) hostErr(err error, name string) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: clean(name), Err: pe.Err}
	}
	return err
}
