package netsense

import (
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Packet analyses one frame of a live capture.
func (a *Analyzer) Packet(data []byte, link layers.LinkType, ts time.Time) {
	a.Packets++
	a.packet(gopacket.NewPacket(data, link, gopacket.DecodeOptions{Lazy: true, NoCopy: true}), ts)
}

// CaptureStats counts what a live capture saw and what the kernel dropped
// because minerguard did not read fast enough.
type CaptureStats struct {
	Packets uint64 `json:"packets"`
	Drops   uint64 `json:"drops"`
}
