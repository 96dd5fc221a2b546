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
	"strings"

	"github.com/minerguard/minerguard/internal/host"

	_ "modernc.org/sqlite" // pure-Go SQLite: the binary stays static
)

// rpmdbSQLite are where rpm 4.16+ keeps its sqlite database (RHEL 9, Fedora).
var rpmdbSQLite = []string{"/usr/lib/sysimage/rpm/rpmdb.sqlite", "/var/lib/rpm/rpmdb.sqlite"}

// rpmdbStores are the older storage formats, tried after sqlite: NDB of
// SUSE (rpm 4.16+ without sqlite) and the Berkeley DB hash file of RHEL 7/8,
// older SUSE and Amazon Linux 2.
var rpmdbStores = []struct {
	path string
	read func(io.ReaderAt, int64, func(int, []byte)) ([]string, error)
}{
	{"/usr/lib/sysimage/rpm/Packages.db", readNDB},
	{"/var/lib/rpm/Packages.db", readNDB},
	{"/var/lib/rpm/Packages", readBerkeley},
	{"/usr/lib/sysimage/rpm/Packages", readBerkeley},
}

// ErrUnsupported is a package database minerguard cannot read.
var ErrUnsupported = errors.New("unsupported package database")

// OpenRPM reads rpm's database: rpmdb.sqlite, else NDB Packages.db, else
// the Berkeley DB Packages. The database is copied out of the root first
// and the copy read: SQLite wants a real file it may lock, and a scan must
// never write to the scanned system, take rpm's locks, or follow a link out
// of the root.
func OpenRPM(fsys host.FS, dirs []string) (*DB, error) {
	var src string
	for _, p := range rpmdbSQLite {
		if st, err := fsys.Stat(p); err == nil && st.Mode().IsRegular() {
			src = p
			break
		}
	}
	if src == "" {
		for _, s := range rpmdbStores {
			if st, err := fsys.Stat(s.path); err == nil && st.Mode().IsRegular() {
				db, err := openRPMStore(fsys, s.path, s.read, newDirFilter(fsys, dirs))
				if err != nil {
					return nil, err
				}
				db.Tool = rpmTool(fsys, s.path)
				return db, nil
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
	db.Tool = rpmTool(fsys, src)
	return db, nil
}

// openRPMStore copies an NDB or Berkeley DB file out of the root and reads
// its header blobs.
func openRPMStore(fsys host.FS, src string, read func(io.ReaderAt, int64, func(int, []byte)) ([]string, error), filter *dirFilter) (*DB, error) {
	tmp, err := os.MkdirTemp("", "minerguard-rpmdb-")
	if err != nil {
		return nil, fmt.Errorf("%s: copy: %w", src, err)
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, "Packages")
	if err := copyOut(fsys, src, dst); err != nil {
		return nil, err
	}
	db, err := readRPMStore(dst, read, filter)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return db, nil
}

func readRPMStore(file string, read func(io.ReaderAt, int64, func(int, []byte)) ([]string, error), filter *dirFilter) (*DB, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	db := newRPMDB()
	warns, err := read(f, st.Size(), func(id int, blob []byte) { db.addHeader(int64(id), blob, filter) })
	if err != nil {
		return nil, err
	}
	db.Warnings = append(warns, db.Warnings...)
	return db, nil
}

// ReadRPMStore reads an NDB ("ndb") or Berkeley DB ("bdb") rpmdb at a real
// path, keeping the files under dirs as given (no link resolution).
func ReadRPMStore(file, format string, dirs []string) (*DB, error) {
	read := readBerkeley
	if format == "ndb" {
		read = readNDB
	}
	f := &dirFilter{}
	for _, d := range dirs {
		f.dirs = append(f.dirs, dirAlias{raw: d, canon: d})
	}
	return readRPMStore(file, read, f)
}

// rpmTool picks the tool that reinstalls packages on the root: zypper on
// SUSE, yum up to RHEL/CentOS 7 and Amazon Linux 2, dnf otherwise. The
// distribution comes from /etc/os-release; without one, the database
// format tells (NDB is SUSE's alone).
func rpmTool(fsys host.FS, dbPath string) string {
	b, err := fsys.ReadFile("/etc/os-release")
	if err != nil || len(b) > 1<<16 {
		b = nil
	}
	var id, like, version string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		v = strings.ToLower(strings.Trim(v, `"'`))
		switch k {
		case "ID":
			id = v
		case "ID_LIKE":
			like = v
		case "VERSION_ID":
			version = v
		}
	}
	ids := strings.Fields(id + " " + like)
	major, _, _ := strings.Cut(version, ".")
	for _, d := range ids {
		if strings.Contains(d, "suse") || d == "sles" {
			return "zypper"
		}
	}
	for _, d := range ids {
		switch d {
		case "rhel", "centos", "fedora", "amzn", "ol", "rocky", "almalinux", "scientific":
			if id == "amzn" && major == "2" || id != "fedora" && id != "amzn" && (major == "5" || major == "6" || major == "7") {
				return "yum"
			}
			return "dnf"
		}
	}
	if strings.HasSuffix(dbPath, ".db") {
		return "zypper"
	}
	return "dnf"
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
	db := newRPMDB()
	for rows.Next() {
		var hnum int64
		var blob []byte
		if err := rows.Scan(&hnum, &blob); err != nil {
			return nil, err
		}
		db.addHeader(hnum, blob, filter)
	}
	return db, rows.Err()
}

func newRPMDB() *DB {
	return &DB{Manager: "rpm", Packages: map[string]Package{}, Files: map[string]*File{}}
}

// addHeader adds one header blob of the database; a damaged one becomes a
// warning naming its number.
func (db *DB) addHeader(hnum int64, blob []byte, filter *dirFilter) {
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
