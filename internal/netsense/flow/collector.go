package flow

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"
)

// Collector receives NetFlow/IPFIX datagrams on a UDP socket, decodes them
// and hands every record on. Everything runs on the goroutine that calls
// Run, so OnRecord and Summary need no locks.
type Collector struct {
	Conn *net.UDPConn
	Dec  *Decoder
	// Write, when set, keeps every datagram for `net flows` to read again.
	Write    *DatagramWriter
	OnRecord func(Record)
	// Summary is called every Every (and not at all when Every is 0).
	Every   time.Duration
	Summary func()
	Log     *slog.Logger
	// Errors counts datagrams that failed to decode; the first few are logged.
	Errors int
}

// pollEvery bounds how long Run takes to notice a cancelled context.
const pollEvery = 200 * time.Millisecond

// Run collects until ctx is done; it returns nil then, or a socket or
// write error.
func (c *Collector) Run(ctx context.Context) error {
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	buf := make([]byte, maxDatagram)
	next := time.Now().Add(c.Every)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if c.Every > 0 && c.Summary != nil && !time.Now().Before(next) {
			c.Summary()
			next = time.Now().Add(c.Every)
		}
		c.Conn.SetReadDeadline(time.Now().Add(pollEvery))
		n, from, err := c.Conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if c.Write != nil {
			if err := c.Write.Write(time.Now(), from, buf[:n]); err != nil {
				return err
			}
		}
		emit := c.OnRecord
		if emit == nil {
			emit = func(Record) {}
		}
		if err := c.Dec.Decode(buf[:n], from.Addr().String(), emit); err != nil {
			c.Errors++
			if c.Errors <= 10 {
				log.Warn("malformed flow datagram", "from", from.String(), "err", err)
			}
		}
	}
}
