package process

import (
	"bytes"
	"errors"
	"strconv"
	"syscall"
)

func itoa(n int) string { return strconv.Itoa(n) }

// isESRCH reports errors from a process that vanished mid-read.
func isESRCH(err error) bool { return errors.Is(err, syscall.ESRCH) }

// ParseMapsPaths returns the distinct file paths named in /proc/PID/maps,
// in first-seen order (pseudo entries like [heap] are skipped).
func ParseMapsPaths(b []byte) []string {
	var out []string
	seen := map[string]bool{}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		// address perms offset dev inode pathname: the path starts at the
		// first '/' after the five fixed fields.
		fields := 0
		i := 0
		for i < len(line) && fields < 5 {
			for i < len(line) && line[i] == ' ' {
				i++
			}
			for i < len(line) && line[i] != ' ' {
				i++
			}
			fields++
		}
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i >= len(line) || line[i] != '/' {
			continue
		}
		p := string(bytes.TrimSuffix(line[i:], []byte(" (deleted)")))
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
