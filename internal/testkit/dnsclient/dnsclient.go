// Package dnsclient is a minimal DNS client for tests: it asks the
// project's own resolvers on loopback, never anything else.
package dnsclient

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"time"
)

// QueryA asks a DNS server (tests: on loopback only) for name's A record;
// an error reply comes back as "rcode N".
func QueryA(server, name string) (string, error) {
	var q bytes.Buffer
	binary.Write(&q, binary.BigEndian, [6]uint16{0x4d47, 0x0100, 1, 0, 0, 0})
	for _, label := range strings.Split(name, ".") {
		q.WriteByte(byte(len(label)))
		q.WriteString(label)
	}
	q.Write([]byte{0, 0, 1, 0, 1})
	c, err := net.Dial("udp", server)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(q.Bytes()); err != nil {
		return "", err
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	r := buf[:n]
	if len(r) < 12 || binary.BigEndian.Uint16(r) != 0x4d47 {
		return "", fmt.Errorf("bad reply")
	}
	if rcode := r[3] & 0xf; rcode != 0 {
		return fmt.Sprintf("rcode %d", rcode), nil
	}
	an := binary.BigEndian.Uint16(r[6:])
	off := q.Len() // the question is echoed back
	for i := 0; i < int(an) && off+12 <= len(r); i++ {
		// Name (a pointer here), type, class, ttl, rdlength, rdata.
		if r[off]&0xc0 == 0xc0 {
			off += 2
		} else {
			for off < len(r) && r[off] != 0 {
				off += int(r[off]) + 1
			}
			off++
		}
		if off+10 > len(r) {
			break
		}
		typ, rdlen := binary.BigEndian.Uint16(r[off:]), int(binary.BigEndian.Uint16(r[off+8:]))
		off += 10
		if typ == 1 && rdlen == 4 && off+4 <= len(r) {
			return net.IP(r[off : off+4]).String(), nil
		}
		off += rdlen
	}
	return "", fmt.Errorf("no A record")
}
