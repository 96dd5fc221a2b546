package host

import (
	"context"
	"errors"
)

// netlinkSockets is replaced by the sock_diag implementation; until then the
// /proc/net tables are used.
func netlinkSockets(context.Context) ([]Socket, error) {
	return nil, errors.New("netlink sock_diag not implemented")
}
