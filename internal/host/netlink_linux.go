package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// netlinkTimeout bounds each receive when the context has no deadline, so a
// kernel that never answers (a seccomp filter, a broken module) cannot hang
// the scan: the /proc/net fallback runs instead.
const netlinkTimeout = 5 * time.Second

// netlinkSockets lists every TCP and UDP socket through NETLINK_SOCK_DIAG.
// It is preferred over /proc/net because it is one binary dump per family
// and protocol that rootkits hooking the /proc/net seq_file show routines
// (tcp4_seq_show) do not filter.
func netlinkSockets(ctx context.Context) ([]Socket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	queries := []struct {
		family, protocol uint8
		proto            string
	}{
		{afInet, ipprotoTCP, "tcp"},
		{afInet6, ipprotoTCP, "tcp6"},
		{afInet, ipprotoUDP, "udp"},
		{afInet6, ipprotoUDP, "udp6"},
	}
	var all []Socket
	buf := make([]byte, 1<<16)
	for i, q := range queries {
		seq := uint32(i + 1)
		socks, err := diagDump(ctx, fd, buf, q.family, q.protocol, q.proto, seq)
		if err != nil {
			return nil, err
		}
		all = append(all, socks...)
	}
	return all, nil
}

// diagDump sends one dump request and reads replies until NLMSG_DONE.
func diagDump(ctx context.Context, fd int, buf []byte, family, protocol uint8, proto string, seq uint32) ([]Socket, error) {
	if err := unix.Sendto(fd, diagRequest(family, protocol, seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink %s request: %w", proto, err)
	}
	var out []Socket
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wait := netlinkTimeout
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
			if wait <= 0 {
				return nil, context.DeadlineExceeded
			}
		}
		tv := unix.NsecToTimeval(wait.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, fmt.Errorf("netlink timeout: %w", err)
		}
		n, flags, from, err := recvNetlink(fd, buf)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return nil, fmt.Errorf("netlink %s: no reply within %s: %w", proto, wait, os.ErrDeadlineExceeded)
			}
			return nil, fmt.Errorf("netlink %s receive: %w", proto, err)
		}
		if flags&unix.MSG_TRUNC != 0 {
			return nil, fmt.Errorf("netlink %s: reply truncated at %d bytes", proto, len(buf))
		}
		// Only the kernel (port 0) may answer; anything else is spoofed.
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue
		}
		socks, done, err := parseDiagReply(buf[:n], proto, seq)
		if err != nil {
			return nil, err
		}
		out = append(out, socks...)
		if done {
			return out, nil
		}
	}
}

// recvNetlink reads one datagram, retrying on EINTR.
func recvNetlink(fd int, buf []byte) (int, int, unix.Sockaddr, error) {
	for {
		n, _, flags, from, err := unix.Recvmsg(fd, buf, nil, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return n, flags, from, err
	}
}
