package pkgdb

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/host"
)

const (
	dpkgStatus     = "/var/lib/dpkg/status"
	dpkgInfo       = "/var/lib/dpkg/info"
	dpkgDiversions = "/var/lib/dpkg/diversions"
)

// StatusEntry is one stanza of /var/lib/dpkg/status.
type StatusEntry struct {
	Package
	// Installed says the package's files are on disk (unpacked or
	// configured), as opposed to removed with only its conffiles left.
	Installed bool
	// Conffiles maps each conffile to the md5 it was shipped with.
	Conffiles map[string]string
}

// filesOnDisk are the dpkg states in which a package's files are unpacked.
var filesOnDisk = map[string]bool{
	"installed": true, "unpacked": true, "half-configured": true,
	"triggers-awaited": true, "triggers-pending": true,
}

// ParseStatus parses dpkg's status file (RFC 822-like stanzas separated by
// blank lines, continuation lines indented). A stanza without Package is
// reported as an error naming its line; the stanzas around it are kept.
func ParseStatus(b []byte) ([]StatusEntry, error) {
	var out []StatusEntry
	var errs []error
	var cur StatusEntry
	field := ""
	start, lineNo := 0, 0
	have := false
	flush := func() {
		if !have {
			return
		}
		if cur.Name == "" {
			errs = append(errs, fmt.Errorf("%s: stanza at line %d has no Package field", dpkgStatus, start))
		} else {
			out = append(out, cur)
		}
		cur, have, field = StatusEntry{}, false, ""
	}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		lineNo++
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			continue
		}
		if !have {
			have, start = true, lineNo
		}
		if line[0] == ' ' || line[0] == '\t' {
			if field == "conffiles" {
				f := strings.Fields(string(line))
				if len(f) >= 2 && strings.HasPrefix(f[0], "/") {
					if cur.Conffiles == nil {
						cur.Conffiles = map[string]string{}
					}
					cur.Conffiles[f[0]] = f[1]
				}
			}
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			field = ""
			continue
		}
		field = strings.ToLower(string(k))
		val := string(bytes.TrimSpace(v))
		switch field {
		case "package":
			cur.Name = val
		case "version":
			cur.Version = val
		case "architecture":
			cur.Arch = val
		case "status":
			f := strings.Fields(val)
			cur.Installed = len(f) == 3 && filesOnDisk[f[2]]
		}
	}
	flush()
	return out, errors.Join(errs...)
}

// ParseList calls fn for every path in a dpkg .list file (one absolute path
// per line).
func ParseList(b []byte, fn func(p []byte)) {
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if len(line) > 1 && line[0] == '/' {
			fn(line)
		}
	}
}

// ParseMD5Sums calls fn for each "HASH  relative/path" line of a dpkg
// .md5sums file; the path is returned absolute. Lines that are not a
// 32-digit hex hash and a path are skipped and counted.
func ParseMD5Sums(b []byte, fn func(p []byte, sum string)) (bad int) {
	var buf []byte
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if len(line) == 0 {
			continue
		}
		if len(line) < 35 || !isHex(line[:32]) || (line[32] != ' ' && line[32] != '\t') {
			bad++
			continue
		}
		rest := bytes.TrimLeft(line[32:], " \t*")
		if len(rest) == 0 {
			bad++
			continue
		}
		buf = append(append(buf[:0], '/'), bytes.TrimPrefix(rest, []byte("/"))...)
		fn(buf, strings.ToLower(string(line[:32])))
	}
	return bad
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ParseDiversions parses /var/lib/dpkg/diversions: triples of lines (from,
// to, diverting package).
func ParseDiversions(b []byte) ([]Diversion, error) {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	var out []Diversion
	for i := 0; i+2 < len(lines); i += 3 {
		d := Diversion{From: lines[i], To: lines[i+1], By: lines[i+2]}
		if !strings.HasPrefix(d.From, "/") || !strings.HasPrefix(d.To, "/") {
			return out, fmt.Errorf("%s: entry at line %d is not a pair of absolute paths", dpkgDiversions, i+1)
		}
		out = append(out, d)
	}
	if len(lines)%3 != 0 {
		return out, fmt.Errorf("%s: %d lines, not a multiple of 3 (truncated?)", dpkgDiversions, len(lines))
	}
	return out, nil
}

type divert struct{ to, by string }

// OpenDpkg reads a dpkg database. The .list files of installed packages
// give ownership; a package's .md5sums is read only when it owns a file
// under dirs, which keeps a scan to a few dozen small reads.
func OpenDpkg(fsys host.FS, dirs []string) (*DB, error) {
	b, err := readBounded(fsys, dpkgStatus)
	if err != nil {
		return nil, err
	}
	entries, perr := ParseStatus(b)
	db := &DB{Manager: "dpkg", Packages: map[string]Package{}, Files: map[string]*File{}}
	if perr != nil {
		db.Warnings = append(db.Warnings, perr.Error())
	}
	filter := newDirFilter(fsys, dirs)
	// Index the info directory once: names are "pkg.list" or, for
	// Multi-Arch: same packages, "pkg:arch.list".
	infos, err := fsys.ReadDir(dpkgInfo)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dpkgInfo, err)
	}
	have := make(map[string]bool, len(infos))
	for _, e := range infos {
		have[e.Name()] = true
	}
	// Diversions: the file at To is the original package's file, the one
	// at From belongs to the diverting package (already in its .list).
	if b, err := readBounded(fsys, dpkgDiversions); err == nil {
		divs, derr := ParseDiversions(b)
		if derr != nil {
			db.Warnings = append(db.Warnings, derr.Error())
		}
		db.Diversions = divs
	} else if !errors.Is(err, fs.ErrNotExist) {
		db.Warnings = append(db.Warnings, err.Error())
	}
	divs := map[string]divert{} // resolved From -> where other packages' copy went
	for _, d := range db.Diversions {
		from, ok1 := filter.match(d.From)
		to, ok2 := filter.match(d.To)
		if ok1 && ok2 {
			divs[from] = divert{to: to, by: d.By}
		}
	}
	var buf []byte
	conf := map[string]bool{}
	owning := map[string]string{} // package -> info file stem with files under dirs
	for _, e := range entries {
		if !e.Installed {
			continue
		}
		db.Packages[e.Name] = e.Package
		for c := range e.Conffiles {
			if p, ok := filter.match(c); ok {
				conf[p] = true
			}
		}
		stem := e.Name
		if !have[stem+".list"] && e.Arch != "" {
			stem = e.Name + ":" + e.Arch
		}
		if !have[stem+".list"] {
			continue
		}
		lb, err := readInto(fsys, dpkgInfo+"/"+stem+".list", &buf)
		if err != nil {
			db.Warnings = append(db.Warnings, err.Error())
			continue
		}
		pkg := e.Name
		ParseList(lb, func(raw []byte) {
			p, ok := filter.matchBytes(raw)
			if !ok {
				return
			}
			owning[pkg] = stem
			if d, ok := divs[p]; ok && d.by != pkg {
				db.Files[d.to] = &File{Path: d.to, Package: pkg, Diverted: p}
				return
			}
			db.Files[p] = &File{Path: p, Package: pkg, Conffile: conf[p]}
		})
	}
	for pkg, stem := range owning {
		mb, err := readInto(fsys, dpkgInfo+"/"+stem+".md5sums", &buf)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				db.Warnings = append(db.Warnings, err.Error())
			}
			continue
		}
		var recorded time.Time
		if st, err := fsys.Stat(dpkgInfo + "/" + stem + ".md5sums"); err == nil {
			recorded = st.ModTime()
		}
		if bad := ParseMD5Sums(mb, func(raw []byte, sum string) {
			p, ok := filter.matchBytes(raw)
			if !ok {
				return
			}
			if d, ok := divs[p]; ok && d.by != pkg {
				// This package's copy of p lives at the diversion target.
				p = d.to
			}
			if f, ok := db.Files[p]; ok && f.Package == pkg && !f.Conffile {
				f.Digest, f.Algo, f.Recorded = sum, AlgoMD5, recorded
			}
		}); bad > 0 {
			db.Warnings = append(db.Warnings, fmt.Sprintf("%s/%s.md5sums: %d malformed lines", dpkgInfo, stem, bad))
		}
	}
	return db, nil
}
