package netsense

// CaptureStats counts what a live capture saw and what the kernel dropped
// because minerguard did not read fast enough.
type CaptureStats struct {
	Packets uint64 `json:"packets"`
	Drops   uint64 `json:"drops"`
}
