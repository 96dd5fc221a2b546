package process

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"sync"
)

// fdCache holds the targets of a process's /proc/PID/fd links, read once
// on first use and shared by the socket and GPU checks.
type fdCache struct {
	once   sync.Once
	links  []string
	inodes map[uint64]bool
	err    error
}

func (p *Process) readFDs() *fdCache {
	c := &p.fds
	c.once.Do(func() {
		ents, err := p.proc.ReadDir(p.PID, "fd")
		if err != nil {
			c.err = err
			return
		}
		c.links = make([]string, 0, len(ents))
		c.inodes = map[uint64]bool{}
		for _, e := range ents {
			link, err := p.proc.Readlink(p.PID, "fd/"+e.Name())
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || isESRCH(err) {
					continue
				}
				c.err = err
				continue
			}
			c.links = append(c.links, link)
			if ino, ok := ParseSocketLink(link); ok {
				c.inodes[ino] = true
			}
		}
	})
	return c
}

// FDLinks returns the targets of the process's open file descriptors
// ("/dev/nvidia0", "socket:[123]", "pipe:[9]"), read once. The same
// partial-result convention as SocketInodes applies.
func (p *Process) FDLinks() ([]string, error) {
	c := p.readFDs()
	return c.links, c.err
}

// SocketInodes returns the inodes of the sockets the process holds open,
// from its /proc/PID/fd links ("socket:[12345]"), read once. They join a
// process to the sockets netlink or /proc/net list, which carry only the
// inode: this is how lsof and ss -p attribute connections, done here
// without running either. Descriptors closed while reading are skipped.
// When the fd directory could be listed but some links not read, the
// inodes found are returned with the error (a non-nil map says the
// directory itself was readable); a nil map means nothing could be read.
func (p *Process) SocketInodes() (map[uint64]bool, error) {
	c := p.readFDs()
	return c.inodes, c.err
}

// ParseSocketLink parses a /proc/PID/fd link target "socket:[12345]".
func ParseSocketLink(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	// The kernel writes canonical decimal: anything else is not its link.
	if !ok || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	ino, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return ino, true
}
