package pkgdb

import (
	"path"
	"strings"

	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	dbi "github.com/knqyf263/go-rpmdb/pkg/db"

	"github.com/minerguard/minerguard/internal/host"

	_ "modernc.org/sqlite" // pure-Go SQLite: the binary stays static
)

// rpmdbSQLite are where rpm 4.16+ keeps its sqlite database (RHEL 9, Fedora).
var rpmdbSQLite = []string{"/usr/lib/sysimage/rpm/rpmdb.sqlite", "/var/lib/rpm/rpmdb.sqlite"}

// rpmStores are rpm's other databases, newest first: NDB (SUSE) and the
// Berkeley DB hash file of RHEL/CentOS 5-8. Their records are the same
// header blobs the sqlite database holds; go-rpmdb's page readers (the
// ones trivy uses) pull the blobs out and ParseHeader reads them.
var rpmStores = []struct{ path, kind string }{
	{"/usr/lib/sysimage/rpm/Packages.db", "ndb"},
	{"/var/lib/rpm/Packages.db", "ndb"},
	{"/var/lib/rpm/Packages", "bdb"},
}

// blobReader is a page-level rpm database reader (bdb or ndb), run in a
// child process (rpmchild.go).
type blobReader interface {
	Read() <-chan dbi.Entry
	Close() error
}

// ErrUnsupported is a package database minerguard cannot read.
var ErrUnsupported = errors.New("unsupported package database")

// OpenRPM reads rpm's database: sqlite (RHEL 9+, Fedora), NDB (SUSE) or
// Berkeley DB (RHEL/CentOS 5-8). The database is copied out of the root
// first and opened read-only: the readers want a real file, and a scan
// must never write to the scanned system, take rpm's locks, or follow a
// link out of the root.
func OpenRPM(fsys host.FS, dirs []string) (*DB, error) {
	var src string
	for _, p := range rpmdbSQLite {
		if st, err := fsys.Stat(p); err == nil && st.Mode().IsRegular() {
			src = p
			break
		}
	}
	if src == "" {
		for _, st := range rpmStores {
			if fi, err := fsys.Stat(st.path); err == nil && fi.Mode().IsRegular() {
				return openRPMStore(fsys, st.path, st.kind, dirs)
			}
		}
		return nil, fs.ErrNotExist
	}
	tmp, err := os.MkdirTemp("", "minerguard-rpmdb-")
	if err != nil {
		return nil, fmt.Errorf("%s: copy: %w", src, err)
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, "rpmdb.sqlite")
	if err := copyOut(fsys, src, dst); err != nil {
		return nil, err
	}
	if err := copyOut(fsys, src+"-wal", dst+"-wal"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	db, err := readRPMSQLite(dst, newDirFilter(fsys, dirs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return db, nil
}

func copyOut(fsys host.FS, src, dst string) error {
	in, err := fsys.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("%s: copy: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("%s: copy: %w", src, err)
	}
	return out.Close()
}

// ReadRPMSQLite reads an rpmdb.sqlite at a real path (a test database or a
// copy) keeping the files under dirs as given (no link resolution).
func ReadRPMSQLite(file string, dirs []string) (*DB, error) {
	f := &dirFilter{}
	for _, d := range dirs {
		f.dirs = append(f.dirs, dirAlias{raw: d, canon: d})
	}
	return readRPMSQLite(file, f)
}

// openRPMStore copies a bdb/ndb database out of the root and reads it.
func openRPMStore(fsys host.FS, src, kind string, dirs []string) (*DB, error) {
	tmp, err := os.MkdirTemp("", "minerguard-rpmdb-")
	if err != nil {
		return nil, fmt.Errorf("%s: copy: %w", src, err)
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, path.Base(src))
	if err := copyOut(fsys, src, dst); err != nil {
		return nil, err
	}
	db, err := readRPMStore(dst, kind, newDirFilter(fsys, dirs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return db, nil
}

// ReadRPMStore reads a Berkeley DB ("Packages") or NDB ("Packages.db")
// rpm database at a real path, keeping the files under dirs as given.
func ReadRPMStore(file string, dirs []string) (*DB, error) {
	f := &dirFilter{}
	for _, d := range dirs {
		f.dirs = append(f.dirs, dirAlias{raw: d, canon: d})
	}
	kind := "bdb"
	if strings.HasSuffix(file, ".db") {
		kind = "ndb"
	}
	return readRPMStore(file, kind, f)
}

// readRPMStore reads the store's header blobs in an isolated child
// (rpmchild.go) and parses them here with ParseHeader.
func readRPMStore(file, kind string, filter *dirFilter) (*DB, error) {
	db := newRPMDB()
	n := int64(0)
	err := readStoreIsolated(kind, file, func(b []byte, err error) {
		n++
		if err != nil {
			db.Warnings = append(db.Warnings, fmt.Sprintf("record %d: %v", n, err))
			return
		}
		db.addRPMBlob(n, b, filter)
	})
	if err != nil {
		if len(db.Packages) == 0 {
			return nil, err
		}
		// What was read before the reader failed is still true.
		db.Warnings = append(db.Warnings, err.Error())
	}
	return db, nil
}

func newRPMDB() *DB {
	return &DB{Manager: "rpm", Packages: map[string]Package{}, Files: map[string]*File{}}
}

// addRPMBlob adds one package header blob (the same format in every store).
func (db *DB) addRPMBlob(hnum int64, blob []byte, filter *dirFilter) {
	h, err := ParseHeader(blob)
	if err != nil {
		db.Warnings = append(db.Warnings, fmt.Sprintf("package %d: %v", hnum, err))
		return
	}
	p, err := ParsePackage(h)
	if err != nil {
		db.Warnings = append(db.Warnings, fmt.Sprintf("package %d: %v", hnum, err))
		return
	}
	if p.Name == "gpg-pubkey" {
		return
	}
	db.Packages[p.Name] = p.Package
	for _, f := range p.Files {
		path, ok := filter.match(f.Path)
		if !ok || f.Mode&0o170000 != 0o100000 && f.Mode != 0 {
			continue // directories and links carry no digest
		}
		db.Files[path] = &File{Path: path, Package: p.Name, Digest: f.Digest, Algo: p.Algo, Conffile: f.Config}
	}
}

func readRPMSQLite(file string, filter *dirFilter) (*DB, error) {
	dsn := "file:" + (&url.URL{Path: file}).EscapedPath() + "?mode=ro"
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	defer sqldb.Close()
	rows, err := sqldb.Query("SELECT hnum, blob FROM Packages")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	db := newRPMDB()
	for rows.Next() {
		var hnum int64
		var blob []byte
		if err := rows.Scan(&hnum, &blob); err != nil {
			return nil, err
		}
		db.addRPMBlob(hnum, blob, filter)
	}
	return db, rows.Err()
}
