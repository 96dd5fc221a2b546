package checks

import (
	"path"
	"strings"

	"github.com/minerguard/minerguard/internal/process"
)

// argv0Name is the program name argv[0] claims: the base name of its first
// word, without a login shell's leading "-" or a title's trailing ":"
// ("sshd: alice@pts/0" claims sshd, "-bash" claims bash). A bracketed
// name ("[kworker/0:2]") is kept whole, as ps would show it.
func argv0Name(argv0 string) string {
	a := strings.TrimSpace(argv0)
	if strings.HasPrefix(a, "[") {
		return a
	}
	if i := strings.IndexAny(a, " \t"); i >= 0 {
		a = a[:i]
	}
	a = strings.TrimSuffix(a, ":")
	a = strings.TrimPrefix(a, "-")
	if a == "" {
		return ""
	}
	b := path.Base(a)
	if b == "." || b == "/" {
		return ""
	}
	return b
}

// exeBase is the file name of the process's executable ("" when unknown or
// a memfd, which has no file name of its own).
func exeBase(p *process.Process) string {
	if p.Exe == "" || p.MemFD() {
		return ""
	}
	return path.Base(p.Exe)
}

// underDir reports whether host path p is dir or inside it.
func underDir(p, dir string) bool {
	dir = strings.TrimSuffix(dir, "/")
	return p == dir || strings.HasPrefix(p, dir+"/")
}
