//go:build !linux

package cli

import "os"

// interactive is false off Linux: unattended runs there need --yes.
func interactive(*os.File) bool { return false }
