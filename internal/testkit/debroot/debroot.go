// Package debroot provides a real Debian bookworm root filesystem for
// tests: the no-false-alarm harness scans it offline (minerguard scan
// --root) and must find nothing of medium severity or worse. The tree is
// built once with debootstrap and cached outside the repository, so every
// later test run costs nothing.
package debroot

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// Suite is the Debian release the harness builds.
const Suite = "bookworm"

// DefaultDir is where the tree is cached when $MINERGUARD_DEBROOT is unset.
const DefaultDir = "/var/cache/minerguard/debroot-bookworm"

// marker is written last into a finished tree, so a half-built one (an
// interrupted debootstrap) is never mistaken for a good one.
const marker = ".minerguard-debroot-complete"

// defaultMirror is used when no apt source can be read.
const defaultMirror = "http://deb.debian.org/debian"

// Dir is the cache directory of the tree.
func Dir() string {
	if d := os.Getenv("MINERGUARD_DEBROOT"); d != "" {
		return d
	}
	return DefaultDir
}

// Mirror returns the Debian archive this machine's apt uses (so the build
// goes wherever apt already may go), read from /etc/apt/sources.list and
// /etc/apt/sources.list.d/* in both the one-line and the deb822 format.
// Security and ports archives are skipped: debootstrap needs the main one.
func Mirror() string {
	files := []string{"/etc/apt/sources.list"}
	if m, err := filepath.Glob("/etc/apt/sources.list.d/*"); err == nil {
		files = append(files, m...)
	}
	for _, f := range files {
		if u := mirrorFrom(f); u != "" {
			return u
		}
	}
	return defaultMirror
}

func mirrorFrom(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	return ParseMirror(bufio.NewScanner(f))
}

// ParseMirror returns the first usable http(s) archive URI in a sources
// file read by sc ("" if none).
func ParseMirror(sc *bufio.Scanner) string {
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var uris []string
		f := strings.Fields(line)
		switch {
		case strings.EqualFold(f[0], "URIs:"):
			uris = f[1:]
		case f[0] == "deb":
			// deb [options] uri suite components
			rest := f[1:]
			if len(rest) > 0 && strings.HasPrefix(rest[0], "[") {
				for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
					rest = rest[1:]
				}
				if len(rest) > 0 {
					rest = rest[1:]
				}
			}
			if len(rest) > 0 {
				uris = rest[:1]
			}
		}
		for _, u := range uris {
			if (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) &&
				!strings.Contains(u, "security") && !strings.Contains(u, "ports") {
				return strings.TrimSuffix(u, "/")
			}
		}
	}
	return ""
}
