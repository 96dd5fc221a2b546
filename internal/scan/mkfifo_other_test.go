//go:build !linux

package scan_test

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs here") }
