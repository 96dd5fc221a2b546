package pkgdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// RPM header tags minerguard reads.
const (
	TagName           = 1000
	TagVersion        = 1001
	TagRelease        = 1002
	TagEpoch          = 1003
	TagArch           = 1022
	TagFileModes      = 1030
	TagFileDigests    = 1035
	TagFileFlags      = 1037
	TagDirIndexes     = 1116
	TagBaseNames      = 1117
	TagDirNames       = 1118
	TagFileDigestAlgo = 5011
)

// RPM header data types.
const (
	typeChar        = 1
	typeInt8        = 2
	typeInt16       = 3
	typeInt32       = 4
	typeInt64       = 5
	typeString      = 6
	typeBin         = 7
	typeStringArray = 8
	typeI18NString  = 9
)

// rpmFileConfig is RPMFILE_CONFIG in FILEFLAGS: a %config file.
const rpmFileConfig = 1 << 0

// Limits rpm itself enforces on a header (hdrblobVerifyInfo).
const (
	maxHeaderEntries = 0xffff
	maxHeaderData    = 256 << 20
)

// headerMagic starts a header in a package file; rpmdb blobs omit it.
var headerMagic = []byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0}

type headerEntry struct {
	typ    uint32
	offset uint32
	count  uint32
}

// Header is a parsed RPM header: an index of {tag, type, offset, count}
// entries into a data store.
type Header struct {
	entries map[int32]headerEntry
	data    []byte
}

// ParseHeader parses an RPM header blob as stored in the rpmdb: a 4-byte
// entry count, a 4-byte data size, 16-byte index entries, then the data
// (all big-endian). Every offset and count is checked against the blob.
func ParseHeader(b []byte) (*Header, error) {
	b = bytes.TrimPrefix(b, headerMagic)
	if len(b) < 8 {
		return nil, fmt.Errorf("rpm header: %d bytes, shorter than the 8-byte preamble", len(b))
	}
	il := binary.BigEndian.Uint32(b[0:4])
	dl := binary.BigEndian.Uint32(b[4:8])
	if il == 0 || il > maxHeaderEntries {
		return nil, fmt.Errorf("rpm header: %d index entries (want 1..%d)", il, maxHeaderEntries)
	}
	if dl > maxHeaderData {
		return nil, fmt.Errorf("rpm header: data size %d over %d", dl, maxHeaderData)
	}
	need := 8 + uint64(il)*16 + uint64(dl)
	if uint64(len(b)) < need {
		return nil, fmt.Errorf("rpm header: %d bytes, index and data need %d (truncated)", len(b), need)
	}
	h := &Header{entries: make(map[int32]headerEntry, il), data: b[8+il*16 : need]}
	for i := uint32(0); i < il; i++ {
		e := b[8+i*16 : 8+i*16+16]
		tag := int32(binary.BigEndian.Uint32(e[0:4]))
		he := headerEntry{
			typ:    binary.BigEndian.Uint32(e[4:8]),
			offset: binary.BigEndian.Uint32(e[8:12]),
			count:  binary.BigEndian.Uint32(e[12:16]),
		}
		if he.offset >= dl && !(he.offset == dl && he.count == 0) {
			return nil, fmt.Errorf("rpm header: tag %d offset %d outside data (%d bytes)", tag, he.offset, dl)
		}
		h.entries[tag] = he
	}
	return h, nil
}

// errNoTag reports a tag the header does not carry.
var errNoTag = errors.New("tag not present")

// String returns a STRING (or the first I18NSTRING / STRING_ARRAY) tag.
func (h *Header) String(tag int32) (string, error) {
	e, ok := h.entries[tag]
	if !ok {
		return "", fmt.Errorf("rpm header tag %d: %w", tag, errNoTag)
	}
	switch e.typ {
	case typeString, typeI18NString, typeStringArray:
	default:
		return "", fmt.Errorf("rpm header tag %d: type %d is not a string", tag, e.typ)
	}
	s, _, err := h.cstring(tag, e.offset)
	return s, err
}

// Strings returns a STRING_ARRAY tag.
func (h *Header) Strings(tag int32) ([]string, error) {
	e, ok := h.entries[tag]
	if !ok {
		return nil, fmt.Errorf("rpm header tag %d: %w", tag, errNoTag)
	}
	if e.typ != typeStringArray && e.typ != typeI18NString && e.typ != typeString {
		return nil, fmt.Errorf("rpm header tag %d: type %d is not a string array", tag, e.typ)
	}
	if e.typ == typeString && e.count != 1 {
		return nil, fmt.Errorf("rpm header tag %d: STRING with count %d", tag, e.count)
	}
	// Each string takes at least its NUL byte, which bounds count.
	if uint64(e.count) > uint64(len(h.data))-uint64(e.offset) {
		return nil, fmt.Errorf("rpm header tag %d: %d strings cannot fit in %d bytes", tag, e.count, len(h.data)-int(e.offset))
	}
	out := make([]string, 0, e.count)
	off := e.offset
	for i := uint32(0); i < e.count; i++ {
		s, next, err := h.cstring(tag, off)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		off = next
	}
	return out, nil
}

// cstring reads a NUL-terminated string at off and returns the offset after it.
func (h *Header) cstring(tag int32, off uint32) (string, uint32, error) {
	if uint64(off) >= uint64(len(h.data)) {
		return "", 0, fmt.Errorf("rpm header tag %d: string at %d outside data", tag, off)
	}
	i := bytes.IndexByte(h.data[off:], 0)
	if i < 0 {
		return "", 0, fmt.Errorf("rpm header tag %d: string at %d not terminated", tag, off)
	}
	return string(h.data[off : off+uint32(i)]), off + uint32(i) + 1, nil
}

// Ints returns an INT8/INT16/INT32 (or CHAR) tag widened to uint32.
func (h *Header) Ints(tag int32) ([]uint32, error) {
	e, ok := h.entries[tag]
	if !ok {
		return nil, fmt.Errorf("rpm header tag %d: %w", tag, errNoTag)
	}
	var size uint64
	switch e.typ {
	case typeChar, typeInt8:
		size = 1
	case typeInt16:
		size = 2
	case typeInt32:
		size = 4
	default:
		return nil, fmt.Errorf("rpm header tag %d: type %d is not an integer", tag, e.typ)
	}
	end := uint64(e.offset) + size*uint64(e.count)
	if end > uint64(len(h.data)) {
		return nil, fmt.Errorf("rpm header tag %d: %d values of %d bytes at %d overrun data (%d bytes)", tag, e.count, size, e.offset, len(h.data))
	}
	out := make([]uint32, e.count)
	d := h.data[e.offset:end]
	for i := range out {
		switch size {
		case 1:
			out[i] = uint32(d[i])
		case 2:
			out[i] = uint32(binary.BigEndian.Uint16(d[i*2:]))
		case 4:
			out[i] = binary.BigEndian.Uint32(d[i*4:])
		}
	}
	return out, nil
}

// RPMFile is one file entry of an rpm package header.
type RPMFile struct {
	Path   string
	Mode   uint32
	Digest string
	Config bool
}

// RPMPackage is what ParsePackage takes from a header.
type RPMPackage struct {
	Package
	Algo  Algo
	Files []RPMFile
}

// ParsePackage reads the package identity and file list of a header.
// Headers without files (gpg-pubkey pseudo-packages) give an empty list.
func ParsePackage(h *Header) (*RPMPackage, error) {
	name, err := h.String(TagName)
	if err != nil {
		return nil, err
	}
	p := &RPMPackage{Package: Package{Name: name}, Algo: AlgoMD5}
	if v, err := h.String(TagVersion); err == nil {
		p.Version = v
		if r, err := h.String(TagRelease); err == nil {
			p.Version += "-" + r
		}
	}
	p.Arch, _ = h.String(TagArch)
	if a, err := h.Ints(TagFileDigestAlgo); err == nil && len(a) > 0 {
		p.Algo = Algo(a[0])
	}
	base, err := h.Strings(TagBaseNames)
	if errors.Is(err, errNoTag) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dirs, err := h.Strings(TagDirNames)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	idx, err := h.Ints(TagDirIndexes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(idx) != len(base) {
		return nil, fmt.Errorf("%s: %d dir indexes for %d base names", name, len(idx), len(base))
	}
	// Digests, modes and flags are optional per header but, when present,
	// parallel to the base names.
	digests, _ := h.Strings(TagFileDigests)
	modes, _ := h.Ints(TagFileModes)
	flags, _ := h.Ints(TagFileFlags)
	p.Files = make([]RPMFile, len(base))
	for i, b := range base {
		if int(idx[i]) >= len(dirs) {
			return nil, fmt.Errorf("%s: dir index %d of %q out of %d dirs", name, idx[i], b, len(dirs))
		}
		f := RPMFile{Path: dirs[idx[i]] + b}
		if len(digests) == len(base) {
			f.Digest = digests[i]
		}
		if len(modes) == len(base) {
			f.Mode = modes[i]
		}
		if len(flags) == len(base) {
			f.Config = flags[i]&rpmFileConfig != 0
		}
		p.Files[i] = f
	}
	return p, nil
}
