//go:build !linux

package netsense

import (
	"context"
	"errors"
	"time"

	"github.com/google/gopacket/layers"
)

// Capture is a live capture; only Linux (AF_PACKET) has one.
type Capture struct{ Link layers.LinkType }

// OpenCapture is not available on this operating system.
func OpenCapture(iface string) (*Capture, error) {
	return nil, errors.New("live capture is supported on Linux only; capture with another tool and use `minerguard net pcap`")
}

// Run is never reached.
func (c *Capture) Run(ctx context.Context, fn func([]byte, time.Time)) error { return nil }

// Stats is never reached.
func (c *Capture) Stats() (CaptureStats, error) { return CaptureStats{}, nil }

// Close is never reached.
func (c *Capture) Close() error { return nil }
