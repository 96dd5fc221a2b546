package intel

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// NameAllow lists names (argv[0] or comm) a program legitimately gives
// itself that differ from its executable's name; "*" allows any.
type NameAllow struct {
	Exe   string   `json:"exe"`
	Names []string `json:"names"`
}

func (p *Processes) indexDisguise() error {
	for _, r := range p.Interpreters {
		re, err := regexp.Compile(r)
		if err != nil {
			return fmt.Errorf("intel processes.json: interpreters %q: %w", r, err)
		}
		p.interpRE = append(p.interpRE, re)
	}
	for i, d := range p.HiddenDirAllow {
		if d == "" || strings.HasPrefix(d, "/") || path.Clean(d) != d {
			return fmt.Errorf("intel processes.json: hidden_dir_allow[%d] %q: want a clean path relative to a home directory", i, d)
		}
	}
	for i, g := range p.TempExeAllow {
		if _, err := path.Match(g, ""); err != nil || !strings.HasPrefix(g, "/") {
			return fmt.Errorf("intel processes.json: temp_exe_allow[%d] %q: want an absolute glob", i, g)
		}
	}
	for i, n := range p.NameAllow {
		if n.Exe == "" || len(n.Names) == 0 {
			return fmt.Errorf("intel processes.json: name_allow[%d]: exe and names are required", i)
		}
	}
	return nil
}

// Interpreter reports whether an executable name (base name) is a script
// interpreter, whose processes take the name of the script they run.
func (db *DB) Interpreter(exeBase string) bool {
	for _, re := range db.Processes.interpRE {
		if re.MatchString(exeBase) {
			return true
		}
	}
	return false
}

// Multicall reports whether an executable picks its behaviour from argv[0].
func (db *DB) Multicall(exeBase string) bool {
	for _, m := range db.Processes.Multicall {
		if m == exeBase {
			return true
		}
	}
	return false
}

// NameAllowed reports whether the program exeBase is known to call itself name.
func (db *DB) NameAllowed(exeBase, name string) bool {
	for _, a := range db.Processes.NameAllow {
		if a.Exe != exeBase {
			continue
		}
		for _, n := range a.Names {
			if n == "*" || n == name {
				return true
			}
		}
	}
	return false
}

// HiddenDirAllowed reports whether rel, a path relative to a home directory
// (".local/bin/tool"), lies in a well-known hidden tool directory, and
// returns that directory.
func (db *DB) HiddenDirAllowed(rel string) (string, bool) {
	for _, d := range db.Processes.HiddenDirAllow {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return d, true
		}
	}
	return "", false
}

// TempExeAllowed reports whether an executable in a temp directory matches
// a temp_exe_allow pattern (a glob matched against the path's leading
// components), returning the pattern.
func (db *DB) TempExeAllowed(p string) (string, bool) {
	parts := strings.Split(p, "/")
	for _, pat := range db.Processes.TempExeAllow {
		n := strings.Count(pat, "/") + 1
		if n > len(parts) {
			continue
		}
		if ok, _ := path.Match(pat, strings.Join(parts[:n], "/")); ok {
			return pat, true
		}
	}
	return "", false
}
