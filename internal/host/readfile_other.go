//go:build !linux

package host

import "os"

func readProcFile(path string) ([]byte, error) { return os.ReadFile(path) }
