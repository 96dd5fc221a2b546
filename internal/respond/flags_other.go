//go:build !unix

package respond

const (
	oNoFollow = 0
	oNonBlock = 0
)
