//go:build !linux

package firewall

import "context"

// Apply is Linux only; elsewhere it returns ErrUnsupported.
func Apply(context.Context, Ruleset, ...Option) error { return ErrUnsupported }

// Remove is Linux only; elsewhere it returns ErrUnsupported.
func Remove(context.Context, string, ...Option) error { return ErrUnsupported }

// Read is Linux only; elsewhere it returns ErrUnsupported.
func Read(context.Context, string, ...Option) (Ruleset, bool, error) {
	return Ruleset{}, false, ErrUnsupported
}
