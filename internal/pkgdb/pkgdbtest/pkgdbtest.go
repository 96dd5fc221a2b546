// Package pkgdbtest builds package databases for tests: RPM header blobs
// as rpm's headerExport writes them and rpmdb.sqlite files with rpm's
// table layout.
package pkgdbtest

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // pure-Go SQLite
)

// RPM header data types.
const (
	TypeInt16       = 3
	TypeInt32       = 4
	TypeString      = 6
	TypeStringArray = 8
)

// Entry is one header tag: val is a string, []string, []uint32 (INT32)
// or []uint16 (INT16).
type Entry struct {
	Tag, Type int
	Val       any
}

// Header encodes entries as an rpmdb header blob (entry count, data size,
// 16-byte index entries, data store; big-endian, integers aligned).
func Header(entries []Entry) []byte {
	var index, data bytes.Buffer
	for _, e := range entries {
		align := 1
		switch e.Val.(type) {
		case []uint32:
			align = 4
		case []uint16:
			align = 2
		}
		for data.Len()%align != 0 {
			data.WriteByte(0)
		}
		off, count := data.Len(), 1
		switch v := e.Val.(type) {
		case string:
			data.WriteString(v + "\x00")
		case []string:
			count = len(v)
			for _, s := range v {
				data.WriteString(s + "\x00")
			}
		case []uint32:
			count = len(v)
			binary.Write(&data, binary.BigEndian, v)
		case []uint16:
			count = len(v)
			binary.Write(&data, binary.BigEndian, v)
		default:
			panic(fmt.Sprintf("pkgdbtest: unsupported value %T", e.Val))
		}
		binary.Write(&index, binary.BigEndian, []uint32{uint32(e.Tag), uint32(e.Type), uint32(off), uint32(count)})
	}
	var out bytes.Buffer
	binary.Write(&out, binary.BigEndian, []uint32{uint32(len(entries)), uint32(data.Len())})
	out.Write(index.Bytes())
	out.Write(data.Bytes())
	return out.Bytes()
}

// WriteRPMDB creates an rpmdb.sqlite at file holding blobs in the
// Packages table, with rpm 4.16's layout.
func WriteRPMDB(file string, blobs ...[]byte) error {
	db, err := sql.Open("sqlite", file)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
		"CREATE TABLE Basenames (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL)",
	} {
		if _, err := db.Exec(q); err != nil {
			return err
		}
	}
	for _, b := range blobs {
		if _, err := db.Exec("INSERT INTO Packages (blob) VALUES (?)", b); err != nil {
			return err
		}
	}
	return db.Close()
}

// BerkeleyDB encodes header blobs as a little-endian Berkeley DB hash file
// laid out as rpm's Packages of RHEL 7/8: a metadata page, one hash page of
// key/HOFFPAGE pairs, and each blob on its own chain of overflow pages.
func BerkeleyDB(pageSize int, blobs ...[]byte) []byte {
	le := binary.LittleEndian
	page := func(pgno, next uint32, entries, hfOffset uint16, typ byte) []byte {
		p := make([]byte, pageSize)
		le.PutUint32(p[8:], pgno)
		le.PutUint32(p[16:], next)
		le.PutUint16(p[20:], entries)
		le.PutUint16(p[22:], hfOffset)
		p[25] = typ
		return p
	}
	var ovf [][]byte
	hash := page(1, 0, uint16(2*len(blobs)), 0, 13)
	free := pageSize
	for i, b := range blobs {
		first := uint32(2 + len(ovf))
		per := pageSize - 26
		for off := 0; off < len(b) || off == 0; off += per {
			n := min(per, len(b)-off)
			next := uint32(2 + len(ovf) + 1)
			if off+per >= len(b) {
				next = 0
			}
			p := page(uint32(2+len(ovf)), next, 1, uint16(n), 7)
			copy(p[26:], b[off:off+n])
			ovf = append(ovf, p)
		}
		// key: H_KEYDATA with the 4-byte package number
		free -= 5
		hash[free] = 1
		le.PutUint32(hash[free+1:], uint32(i+1))
		le.PutUint16(hash[26+4*i:], uint16(free))
		// value: HOFFPAGE {type, pad[3], pgno, tlen}
		free -= 12
		hash[free] = 3
		le.PutUint32(hash[free+4:], first)
		le.PutUint32(hash[free+8:], uint32(len(b)))
		le.PutUint16(hash[26+4*i+2:], uint16(free))
	}
	meta := make([]byte, pageSize)
	le.PutUint32(meta[12:], 0x061561) // hash magic
	le.PutUint32(meta[16:], 9)        // version
	le.PutUint32(meta[20:], uint32(pageSize))
	meta[25] = 8 // hash metadata page
	le.PutUint32(meta[32:], uint32(1+len(ovf)))
	out := append(meta, hash...)
	for _, p := range ovf {
		out = append(out, p...)
	}
	return out
}

// NDB encodes header blobs as rpm's NDB Packages.db (SUSE): the header,
// one page of slots, then the blobs in 16-byte blocks.
func NDB(blobs ...[]byte) []byte {
	le := binary.LittleEndian
	out := make([]byte, 4096)
	copy(out, "RpmP")
	le.PutUint32(out[12:], 1) // slot pages
	for s := 2; s < 256; s++ {
		copy(out[s*16:], "Slot")
	}
	for i, b := range blobs {
		blk := len(out) / 16
		slot := out[(2+i)*16:]
		le.PutUint32(slot[4:], uint32(i+1))
		le.PutUint32(slot[8:], uint32(blk))
		le.PutUint32(slot[12:], uint32((16+len(b)+16+15)/16))
		var bh [16]byte
		copy(bh[:], "BlbS")
		le.PutUint32(bh[4:], uint32(i+1))
		le.PutUint32(bh[12:], uint32(len(b)))
		out = append(out, bh[:]...)
		out = append(out, b...)
		for len(out)%16 != 0 || len(out) < (blk+int((16+len(b)+16+15)/16))*16 {
			out = append(out, 0)
		}
	}
	return out
}

// GoRPMDBTestdata returns the path of a database shipped in go-rpmdb's
// module testdata ("centos7-plain/Packages"), or an error saying why not.
func GoRPMDBTestdata(name string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil {
		return "", fmt.Errorf("go list go-rpmdb: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "pkg", "testdata", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("go-rpmdb testdata: %v", err)
	}
	return p, nil
}
