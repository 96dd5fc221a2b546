package lines

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
)

// Decompress returns r's content, decompressed when it is gzip (rotated
// logs: dnsmasq.log.2.gz, Zeek's conn.*.log.gz). It looks at the first
// two bytes only; anything else is returned as it is.
func Decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(2)
	if len(head) < 2 || head[0] != 0x1f || head[1] != 0x8b {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return zr, nil
}
