package pkgdb

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/minerguard/minerguard/internal/host"

	_ "modernc.org/sqlite" // pure-Go SQLite: the binary stays static
)

// rpmdbSQLite are where rpm 4.16+ keeps its sqlite database (RHEL 9, Fedora).
var rpmdbSQLite = []string{"/usr/lib/sysimage/rpm/rpmdb.sqlite", "/var/lib/rpm/rpmdb.sqlite"}

// rpmdbBDB is the Berkeley DB database of RHEL 7/8, which is not read.
const rpmdbBDB = "/var/lib/rpm/Packages"

// ErrUnsupported is a package database minerguard cannot read.
var ErrUnsupported = errors.New("unsupported package database")

// OpenRPM reads rpm's sqlite database. The database (and its write-ahead
// log) is copied out of the root first and opened read-only: SQLite wants
// a real file it may lock, and a scan must never write to the scanned
// system, take rpm's locks, or follow a link out of the root.
func OpenRPM(fsys host.FS, dirs []string) (*DB, error) {
	var src string
	for _, p := range rpmdbSQLite {
		if st, err := fsys.Stat(p); err == nil && st.Mode().IsRegular() {
			src = p
			break
		}
	}
	if src == "" {
		if _, err := fsys.Stat(rpmdbBDB); err == nil {
			return nil, fmt.Errorf("%s: %w (Berkeley DB rpmdb of RHEL 7/8 is not read; verify with rpm -Va)", rpmdbBDB, ErrUnsupported)
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
	db := &DB{Manager: "rpm", Packages: map[string]Package{}, Files: map[string]*File{}}
	for rows.Next() {
		var hnum int64
		var blob []byte
		if err := rows.Scan(&hnum, &blob); err != nil {
			return nil, err
		}
		h, err := ParseHeader(blob)
		if err != nil {
			db.Warnings = append(db.Warnings, fmt.Sprintf("package %d: %v", hnum, err))
			continue
		}
		p, err := ParsePackage(h)
		if err != nil {
			db.Warnings = append(db.Warnings, fmt.Sprintf("package %d: %v", hnum, err))
			continue
		}
		if p.Name == "gpg-pubkey" {
			continue
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
	return db, rows.Err()
}
