//go:build !linux

package main

import "errors"

func setComm(string) error { return errors.New("--comm needs Linux") }

func reexecFromMemfd([]string) error { return errors.New("--memfd needs Linux") }
