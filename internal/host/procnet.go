package host

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strconv"
	"strings"
)

// procNetSockets reads /proc/net/{tcp,tcp6,udp,udp6}.
func (p *ProcDir) procNetSockets() ([]Socket, error) {
	var all []Socket
	found := false
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := p.ReadGlobal("net/" + proto)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return all, fmt.Errorf("/proc/net/%s: %w", proto, err)
		}
		found = true
		socks, err := ParseProcNet(proto, b)
		if err != nil {
			return all, fmt.Errorf("/proc/net/%s: %w", proto, err)
		}
		all = append(all, socks...)
	}
	if !found {
		return nil, fmt.Errorf("/proc/net: no socket tables: %w", fs.ErrNotExist)
	}
	return all, nil
}

// ParseProcNet parses one /proc/net/{tcp,udp}[6] table. Malformed lines are
// an error naming the line; the table's header is skipped.
func ParseProcNet(proto string, data []byte) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 10 {
			return out, fmt.Errorf("line %d: %d fields, want at least 10", line, len(fields))
		}
		local, err := parseHexAddrPort(fields[1])
		if err != nil {
			return out, fmt.Errorf("line %d: local_address: %w", line, err)
		}
		remote, err := parseHexAddrPort(fields[2])
		if err != nil {
			return out, fmt.Errorf("line %d: rem_address: %w", line, err)
		}
		st, err := strconv.ParseUint(fields[3], 16, 8)
		if err != nil {
			return out, fmt.Errorf("line %d: st: %w", line, err)
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil {
			return out, fmt.Errorf("line %d: uid: %w", line, err)
		}
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			return out, fmt.Errorf("line %d: inode: %w", line, err)
		}
		s := Socket{Proto: proto, Local: local, Remote: remote, Inode: inode, UID: uid, Source: "procfs"}
		if strings.HasPrefix(proto, "tcp") {
			s.State = TCPStateName(uint8(st))
		} else if st == 1 {
			s.State = "ESTABLISHED" // connected UDP socket
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	return out, nil
}

// parseHexAddrPort parses the kernel's "0100007F:0D05" form: the address as
// host-order 32-bit words, the port big-endian hex.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	addrHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%q: no port", s)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: port: %w", s, err)
	}
	raw, err := hex.DecodeString(addrHex)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: address: %w", s, err)
	}
	if len(raw) != 4 && len(raw) != 16 {
		return netip.AddrPort{}, fmt.Errorf("%q: address of %d bytes", s, len(raw))
	}
	// Each 32-bit word is in the kernel's (little-endian) byte order.
	for i := 0; i < len(raw); i += 4 {
		w := binary.LittleEndian.Uint32(raw[i:])
		binary.BigEndian.PutUint32(raw[i:], w)
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}
