//go:build !linux

package checks

import "time"

// birthTime is unknown off Linux.
func birthTime(string) (time.Time, bool) { return time.Time{}, false }
