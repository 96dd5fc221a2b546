// Package pkgdbtest builds package databases for tests: RPM header blobs
// as rpm's headerExport writes them and rpmdb.sqlite files with rpm's
// table layout.
package pkgdbtest

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"fmt"

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
