// Package pkgdb reads what the package manager of a root says it installed
// (dpkg's /var/lib/dpkg; rpm's rpmdb.sqlite, NDB Packages.db or Berkeley DB
// Packages), so file checks can tell a packaged binary from a replaced or
// dropped one. Everything is read through
// host.FS: the same code verifies the live host and a mounted disk image.
//
// Only files under the directories a caller asks for are kept: a full
// Debian file list is hundreds of thousands of lines, and the integrity
// check needs the system binary directories alone.
package pkgdb

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/host"
)

// ErrNoDatabase means the root has no package database minerguard reads.
var ErrNoDatabase = errors.New("no dpkg or rpm database")

// maxText bounds one text file of the database (status, a .list, a
// .md5sums); a larger one is damaged or hostile.
const maxText = 64 << 20

// Algo is a file digest algorithm.
type Algo int

// Digest algorithms, numbered as rpm's PGPHASHALGO (dpkg records MD5).
const (
	AlgoNone   Algo = 0
	AlgoMD5    Algo = 1
	AlgoSHA1   Algo = 2
	AlgoSHA256 Algo = 8
	AlgoSHA384 Algo = 9
	AlgoSHA512 Algo = 10
	AlgoSHA224 Algo = 11
)

func (a Algo) String() string {
	switch a {
	case AlgoMD5:
		return "md5"
	case AlgoSHA1:
		return "sha1"
	case AlgoSHA256:
		return "sha256"
	case AlgoSHA384:
		return "sha384"
	case AlgoSHA512:
		return "sha512"
	case AlgoSHA224:
		return "sha224"
	case AlgoNone:
		return "none"
	}
	return fmt.Sprintf("algo(%d)", int(a))
}

// Package is one installed package.
type Package struct {
	Name    string
	Version string
	Arch    string
}

// File is a file a package installed.
type File struct {
	// Path is the host path with directory links resolved ("/bin/ls" on a
	// merged-/usr system is "/usr/bin/ls").
	Path    string
	Package string
	// Digest is the recorded hex digest ("" when none is recorded: dpkg
	// keeps no md5 for conffiles, rpm none for links and directories).
	Digest string
	Algo   Algo
	// Conffile says the admin is expected to edit it.
	Conffile bool
	// Diverted is set on a file dpkg-divert moved here from its packaged
	// name; Package is then the package that shipped it.
	Diverted string
	// Recorded is when the package manager wrote the digest (the mtime of
	// dpkg's .md5sums, written right after unpacking); zero when unknown.
	Recorded time.Time
}

// Diversion is one dpkg-divert entry: From is renamed to To, and the
// package By (":" for a local, admin-made diversion) owns From instead.
type Diversion struct {
	From, To, By string
}

// DB is what a package manager recorded for the selected directories.
type DB struct {
	// Manager is "dpkg" or "rpm".
	Manager string
	// Tool is the rpm front end that reinstalls packages on the root
	// ("dnf", "yum", "zypper"); "" for dpkg.
	Tool     string
	Packages map[string]Package
	// Files holds the packaged files under the selected directories, by
	// resolved host path.
	Files      map[string]*File
	Diversions []Diversion
	// Warnings name database files that could not be read or parsed; the
	// rest of the database is still used.
	Warnings []string
}

// Owner returns the package owning a host path ("" when none).
func (db *DB) Owner(p string) string {
	if f, ok := db.Files[p]; ok {
		return f.Package
	}
	return ""
}

// ReinstallCommand is the command that restores a package's files.
func (db *DB) ReinstallCommand(pkg string) string {
	if db.Manager == "rpm" {
		switch db.Tool {
		case "zypper":
			return "zypper install --force " + pkg
		case "yum":
			return "yum reinstall " + pkg
		}
		return "dnf reinstall " + pkg
	}
	return "apt-get install --reinstall " + pkg
}

// Open reads the package database of the root: dpkg when
// /var/lib/dpkg/status exists, else rpm. dirs are the host directories
// whose files are kept (with everything below them).
func Open(fsys host.FS, dirs []string) (*DB, error) {
	if _, err := fsys.Stat(dpkgStatus); err == nil {
		return OpenDpkg(fsys, dirs)
	}
	db, err := OpenRPM(fsys, dirs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoDatabase
	}
	return db, err
}

// dirFilter keeps the paths under a set of directories and rewrites them to
// their resolved form, so "/bin/ls" of a package and "/usr/bin/ls" on disk
// meet on a merged-/usr system.
type dirFilter struct {
	dirs []dirAlias // longest raw prefix first
}

type dirAlias struct{ raw, canon string }

func newDirFilter(fsys host.FS, dirs []string) *dirFilter {
	f := &dirFilter{}
	for _, d := range dirs {
		d = path.Clean("/" + d)
		f.dirs = append(f.dirs, dirAlias{raw: d, canon: Canonical(fsys, d)})
	}
	sort.Slice(f.dirs, func(i, j int) bool { return len(f.dirs[i].raw) > len(f.dirs[j].raw) })
	return f
}

// match returns p's resolved path when p lies under a selected directory.
func (f *dirFilter) match(p string) (string, bool) {
	for _, d := range f.dirs {
		if len(p) > len(d.raw) && p[len(d.raw)] == '/' && p[:len(d.raw)] == d.raw {
			if d.raw == d.canon {
				return p, true
			}
			return d.canon + p[len(d.raw):], true
		}
	}
	return "", false
}

// matchBytes is match for a line of a list file; it allocates only for
// the paths it keeps, which are few among a package's files.
func (f *dirFilter) matchBytes(p []byte) (string, bool) {
	for _, d := range f.dirs {
		if len(p) > len(d.raw) && p[len(d.raw)] == '/' && string(p[:len(d.raw)]) == d.raw {
			return d.canon + string(p[len(d.raw):]), true
		}
	}
	return "", false
}

// Canonical resolves every symbolic link in a host directory path through
// fsys, so the result is where the directory really is inside the root.
func Canonical(fsys host.FS, p string) string {
	p = path.Clean("/" + p)
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	resolved := "/"
	for hops, i := 0, 0; i < len(parts); i++ {
		if parts[i] == "" || parts[i] == "." {
			continue
		}
		if parts[i] == ".." {
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, parts[i])
		st, err := fsys.Lstat(next)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		target, err := fsys.Readlink(next)
		if hops++; err != nil || hops > 40 {
			resolved = next
			continue
		}
		if !strings.HasPrefix(target, "/") {
			target = path.Join(resolved, target)
		}
		parts = append(strings.Split(strings.TrimPrefix(path.Clean(target), "/"), "/"), parts[i+1:]...)
		i = -1
		resolved = "/"
	}
	return resolved
}

// readBounded reads a whole database file, refusing one over maxText.
func readBounded(fsys host.FS, name string) ([]byte, error) {
	var buf []byte
	return readInto(fsys, name, &buf)
}

// readInto reads a whole database file into *buf, reusing its space: the
// hundreds of small list files of a scan then cost one allocation.
func readInto(fsys host.FS, name string, buf *[]byte) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() < maxText && int64(cap(*buf)) < st.Size()+1 {
		*buf = make([]byte, 0, st.Size()+1)
	}
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			if len(b) > maxText {
				return nil, fmt.Errorf("%s: larger than %d MiB", name, maxText>>20)
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	*buf = b
	return b, nil
}
