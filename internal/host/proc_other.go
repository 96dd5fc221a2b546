//go:build !linux

package host

import (
	"context"
	"errors"
)

func signalZero(int) bool { return false }

func netlinkSockets(context.Context) ([]Socket, error) {
	return nil, errors.New("netlink sock_diag is Linux only")
}
