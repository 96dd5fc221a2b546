package pkgdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/knqyf263/go-rpmdb/pkg/bdb"
	"github.com/knqyf263/go-rpmdb/pkg/ndb"
)

// The storage layers of the pre-sqlite rpmdbs: the Berkeley DB hash file of
// RHEL 7/8 (/var/lib/rpm/Packages) and rpm's own NDB of SUSE
// (/usr/lib/sysimage/rpm/Packages.db). Both only hold header blobs, which
// ParseHeader reads as for sqlite. go-rpmdb's page decoders and format
// constants are used, but the page walk is done here: its own walker runs
// in a goroutine that indexes pages unchecked (a damaged file would crash
// the scan, out of reach of any recover) and loops forever on a cyclic
// overflow chain, and a scanned disk is untrusted input.

// maxBlob bounds one header blob; rpm itself refuses headers over 256 MiB
// of data, real ones are well under 1 MiB.
const maxBlob = 64 << 20

// readBerkeley returns the header blobs of a Berkeley DB hash database.
// Damage in one package becomes a warning; a file that is not a hash
// database is an error.
func readBerkeley(r io.ReaderAt, size int64, each func(id int, blob []byte)) (warnings []string, err error) {
	meta := make([]byte, 512)
	if size < int64(len(meta)) {
		return nil, fmt.Errorf("not a Berkeley DB hash database: %d bytes", size)
	}
	if _, err := r.ReadAt(meta, 0); err != nil {
		return nil, fmt.Errorf("metadata page: %w", err)
	}
	m, err := bdb.ParseHashMetadataPage(meta)
	if err != nil {
		return nil, fmt.Errorf("not a Berkeley DB hash database: %w", err)
	}
	psize := m.PageSize
	switch psize {
	case 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536:
	default:
		return nil, fmt.Errorf("metadata page: page size %d", psize)
	}
	npages := uint32(size / int64(psize))
	if m.LastPageNo >= npages {
		// A truncated copy: read what is there.
		warnings = append(warnings, fmt.Sprintf("last page %d beyond the file's %d pages", m.LastPageNo, npages))
	} else {
		npages = m.LastPageNo + 1
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if m.Swapped {
		order = binary.BigEndian
	}
	page := make([]byte, psize)
	ovf := make([]byte, psize)
	// Each overflow page belongs to one value: a page met twice is a cycle
	// or a crafted file making every entry re-read the same pages, so the
	// bytes read stay bounded by the file size.
	used := make([]bool, npages)
	id := 0
	for pn := uint32(1); pn < npages; pn++ {
		if _, err := r.ReadAt(page, int64(pn)*int64(psize)); err != nil {
			return warnings, fmt.Errorf("page %d: %w", pn, err)
		}
		hp, err := bdb.ParseHashPage(page, m.Swapped)
		if err != nil {
			return warnings, fmt.Errorf("page %d: %w", pn, err)
		}
		if hp.PageType != bdb.HashPageType && hp.PageType != bdb.HashUnsortedPageType {
			continue
		}
		n := int(hp.NumEntries)
		if bdb.PageHeaderSize+2*n > int(psize) {
			warnings = append(warnings, fmt.Sprintf("page %d: %d entries overflow the page", pn, n))
			continue
		}
		// Entries are key/value pairs of in-page offsets; rpm's values
		// (the headers) always live on overflow pages (HOFFPAGE items).
		for i := 1; i < n; i += 2 {
			off := int(order.Uint16(page[bdb.PageHeaderSize+2*i:]))
			if off+bdb.HashOffPageSize > int(psize) || page[off] != bdb.HashOffIndexPageType {
				continue
			}
			e, err := bdb.ParseHashOffPageEntry(page[off:off+bdb.HashOffPageSize], m.Swapped)
			if err != nil {
				continue
			}
			id++
			blob, err := overflowChain(r, m.Swapped, e.PageNo, e.Length, used, ovf)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("page %d entry %d: %v", pn, i, err))
				continue
			}
			each(id, blob)
		}
	}
	return warnings, nil
}

// overflowChain concatenates the overflow pages holding one value.
func overflowChain(r io.ReaderAt, swapped bool, pn, length uint32, used []bool, page []byte) ([]byte, error) {
	psize := uint32(len(page))
	if length > maxBlob || uint64(length) > uint64(len(used))*uint64(psize) {
		return nil, fmt.Errorf("value of %d bytes", length)
	}
	blob := make([]byte, 0, length)
	for pn != 0 {
		if pn >= uint32(len(used)) {
			return nil, fmt.Errorf("overflow page %d out of range", pn)
		}
		if used[pn] {
			return nil, fmt.Errorf("overflow page %d cyclic or shared by two values", pn)
		}
		used[pn] = true
		if _, err := r.ReadAt(page, int64(pn)*int64(psize)); err != nil {
			return nil, fmt.Errorf("overflow page %d: %w", pn, err)
		}
		hp, err := bdb.ParseHashPage(page, swapped)
		if err != nil {
			return nil, fmt.Errorf("overflow page %d: %w", pn, err)
		}
		if hp.PageType != bdb.OverflowPageType {
			return nil, fmt.Errorf("page %d: type %d, not an overflow page", pn, hp.PageType)
		}
		// On overflow pages the "free area offset" field is the count of
		// data bytes on the page.
		used := uint32(hp.FreeAreaOffset)
		if used > psize-bdb.PageHeaderSize {
			return nil, fmt.Errorf("overflow page %d: %d bytes on a %d-byte page", pn, used, psize)
		}
		if uint32(len(blob))+used > length {
			return nil, fmt.Errorf("overflow chain longer than its %d-byte value", length)
		}
		blob = append(blob, page[bdb.PageHeaderSize:bdb.PageHeaderSize+used]...)
		pn = hp.NextPageNo
	}
	if uint32(len(blob)) != length {
		return nil, fmt.Errorf("overflow chain of %d bytes for a %d-byte value", len(blob), length)
	}
	return blob, nil
}

// NDB layout (rpm lib/backend/ndb/rpmpkg.c): a 32-byte header ("RpmP",
// version, generation, slot page count), slot pages of 16-byte slots
// ("Slot", package index, block offset, block count; the header takes the
// first two), and blobs at offset*16 ("BlbS", package index, checksum,
// length, then the header blob).
const (
	ndbBlockSize  = 16
	ndbSlotMagic  = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobMagic  = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbMaxSlotPgs = 2048
)

var errNotNDB = errors.New("not an rpm NDB database")

// readNDB returns the header blobs of an NDB Packages.db.
func readNDB(r io.ReaderAt, size int64, each func(id int, blob []byte)) (warnings []string, err error) {
	var hdr [32]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint32(hdr[0:]) != ndb.NDB_HeaderMagic || le.Uint32(hdr[4:]) != ndb.NDB_DBVersion {
		return nil, errNotNDB
	}
	npages := le.Uint32(hdr[12:])
	if npages == 0 || npages > ndbMaxSlotPgs || int64(npages)*4096 > size {
		return nil, fmt.Errorf("header: %d slot pages in a %d-byte file", npages, size)
	}
	slots := make([]byte, int(npages)*4096)
	if _, err := r.ReadAt(slots, 0); err != nil {
		return nil, fmt.Errorf("slot pages: %w", err)
	}
	var bh [16]byte
	// Blobs do not overlap, so together they are smaller than the file; a
	// crafted file pointing every slot at one big blob is refused.
	total := int64(0)
	seen := map[int64]bool{}
	for s := 2; s < len(slots)/16; s++ {
		slot := slots[s*16 : s*16+16]
		if le.Uint32(slot[0:]) != ndbSlotMagic {
			return warnings, fmt.Errorf("slot %d: bad magic", s)
		}
		pkg, blk := le.Uint32(slot[4:]), le.Uint32(slot[8:])
		if pkg == 0 {
			continue // free slot
		}
		off := int64(blk) * ndbBlockSize
		if seen[off] {
			warnings = append(warnings, fmt.Sprintf("package %d: blob at offset %d listed twice", pkg, off))
			continue
		}
		seen[off] = true
		if _, err := r.ReadAt(bh[:], off); err != nil {
			warnings = append(warnings, fmt.Sprintf("package %d: blob at %d: %v", pkg, off, err))
			continue
		}
		if le.Uint32(bh[0:]) != ndbBlobMagic || le.Uint32(bh[4:]) != pkg {
			warnings = append(warnings, fmt.Sprintf("package %d: no blob at offset %d", pkg, off))
			continue
		}
		n := int64(le.Uint32(bh[12:]))
		if n > maxBlob || off+16+n > size {
			warnings = append(warnings, fmt.Sprintf("package %d: blob of %d bytes past the end of the file", pkg, n))
			continue
		}
		if total += n; total > size {
			warnings = append(warnings, fmt.Sprintf("package %d: blobs overlap", pkg))
			continue
		}
		blob := make([]byte, n)
		if _, err := r.ReadAt(blob, off+16); err != nil {
			warnings = append(warnings, fmt.Sprintf("package %d: %v", pkg, err))
			continue
		}
		each(int(pkg), blob)
	}
	return warnings, nil
}
