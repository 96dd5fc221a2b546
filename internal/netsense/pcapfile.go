package netsense

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// maxRecord bounds one capture record: far above any frame (tcpdump's
// largest snap length is 256 KiB), far below what a damaged length field
// would make us allocate.
const maxRecord = 16 << 20

// pcapRecords reads classic pcap records into one buffer, reused and grown
// to the largest record read. pcapgo's zero-copy reader sizes its buffer
// by the header's snap length (4 GiB in a damaged or hostile file: a
// 40-byte file could ask for it), and its allocating reader makes a
// slice per packet.
type pcapRecords struct {
	r       io.Reader
	order   binary.ByteOrder
	nanos   uint32 // nanoseconds per timestamp unit
	snaplen uint32
	link    layers.LinkType
	hdr     [16]byte
	buf     []byte
}

// newPcapRecords reads the file header; pcapgo checks it (magic, version).
func newPcapRecords(br *bufio.Reader) (*pcapRecords, error) {
	head, err := br.Peek(24)
	if err != nil {
		return nil, err
	}
	h, err := pcapgo.NewReader(bytes.NewReader(head))
	if err != nil {
		return nil, err
	}
	p := &pcapRecords{r: br, snaplen: h.Snaplen(), link: h.LinkType(), order: binary.LittleEndian, nanos: 1000}
	switch binary.LittleEndian.Uint32(head) {
	case 0xa1b23c4d:
		p.nanos = 1
	case 0x4d3cb2a1:
		p.order, p.nanos = binary.BigEndian, 1
	case 0xd4c3b2a1:
		p.order = binary.BigEndian
	}
	// The link type is 32 bits (the low 16 the type itself); gopacket
	// keeps a byte of it.
	switch raw := p.order.Uint32(head[20:]) & 0xffff; {
	case raw == 276:
		p.link = linkTypeLinuxSLL2
	case raw > 0xff:
		return nil, fmt.Errorf("link type %d is not supported", raw)
	}
	_, err = br.Discard(24)
	return p, err
}

// ZeroCopyReadPacketData returns the next record; its bytes are valid
// until the next call. Checks and errors are pcapgo's, plus maxRecord.
func (p *pcapRecords) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	if _, err := io.ReadFull(p.r, p.hdr[:]); err != nil {
		return nil, ci, err
	}
	ci.Timestamp = time.Unix(int64(p.order.Uint32(p.hdr[0:4])), int64(p.order.Uint32(p.hdr[4:8])*p.nanos)).UTC()
	ci.CaptureLength = int(p.order.Uint32(p.hdr[8:12]))
	ci.Length = int(p.order.Uint32(p.hdr[12:16]))
	switch {
	case ci.CaptureLength > int(p.snaplen):
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, p.snaplen)
	case ci.CaptureLength > ci.Length:
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	case ci.CaptureLength > maxRecord:
		return nil, ci, fmt.Errorf("capture length %d: larger than any frame (%d)", ci.CaptureLength, maxRecord)
	}
	if cap(p.buf) < ci.CaptureLength {
		p.buf = make([]byte, ci.CaptureLength)
	}
	data := p.buf[:ci.CaptureLength]
	_, err := io.ReadFull(p.r, data)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // a header without its data
	}
	return data, ci, err
}

func (p *pcapRecords) LinkType() layers.LinkType { return p.link }

// ngRecords reads pcapng with a slice per packet: NgReader's zero-copy
// path, too, sizes its buffer by a snap length taken from the file.
type ngRecords struct{ *pcapgo.NgReader }

func (n ngRecords) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	return n.ReadPacketData()
}
