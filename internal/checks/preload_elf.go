package checks

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/sigscan"
)

func init() {
	registerFunc(Info{
		ID:          "preload.library",
		Title:       "Analysis of preloaded libraries (ld.so.preload, LD_PRELOAD in profiles)",
		Description: "Opens every library named in /etc/ld.so.preload and in LD_PRELOAD assignments of /etc/environment and shell profiles, and lists the libc functions it replaces: a preloaded library exporting readdir, fopen or stat hides files and processes.",
		Needs:       NeedsFS,
		Default:     true,
	}, checkPreloadLibrary)
}

// preloadRef is one library name and where it was listed.
type preloadRef struct {
	lib, source string
	line        int
	content     string
}

// ldPreloadAssign matches an LD_PRELOAD assignment in a shell or
// environment file and captures the value (quoted or bare).
var ldPreloadAssign = regexp.MustCompile(`(?:^|[\s;&|])(?:export\s+|env\s+|declare\s+-x\s+)?LD_PRELOAD=("[^"]*"|'[^']*'|[^\s;&|]*)`)

// ParseLDPreloadAssignments returns the libraries assigned to LD_PRELOAD in
// shell or environment text with the 1-based line of each. Values that use
// variables are skipped: the scanner cannot know what they expand to.
func ParseLDPreloadAssignments(text string) []struct {
	Lib  string
	Line int
} {
	var out []struct {
		Lib  string
		Line int
	}
	for i, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		for _, m := range ldPreloadAssign.FindAllStringSubmatch(l, -1) {
			v := strings.Trim(m[1], `"'`)
			for _, lib := range ParsePreloadList(v, false) {
				if strings.ContainsAny(lib, "$`") {
					continue
				}
				out = append(out, struct {
					Lib  string
					Line int
				}{lib, i + 1})
			}
		}
	}
	return out
}

// preloadProfileFiles are the environment and profile files where a
// system-wide or per-user LD_PRELOAD is set.
func preloadProfileFiles(env *Env) []string {
	files := []string{"/etc/environment", "/etc/profile", "/etc/bash.bashrc", "/etc/bashrc", "/etc/zsh/zshenv", "/etc/zshenv", "/etc/security/pam_env.conf"}
	if es, err := env.Host.FS().ReadDir("/etc/profile.d"); err == nil {
		for _, e := range es {
			if !e.IsDir() {
				files = append(files, "/etc/profile.d/"+e.Name())
			}
		}
	}
	if pb, _, err := readText(env, "/etc/passwd"); err == nil {
		users, _ := ParsePasswd(pb, "/etc/passwd")
		seen := map[string]bool{}
		for _, u := range users {
			h := path.Clean("/" + u.Home)
			if h == "/" || seen[h] {
				continue
			}
			seen[h] = true
			for _, n := range []string{".profile", ".bashrc", ".bash_profile", ".bash_login", ".zshrc", ".zshenv", ".pam_environment"} {
				files = append(files, h+"/"+n)
			}
		}
	}
	return files
}

// resolveLibrary finds a preload entry on the host: a name without a slash
// is searched in the loader's directories; $LIB and $PLATFORM are expanded.
func resolveLibrary(env *Env, ai *accountsIntel, lib string) (string, bool) {
	var cands []string
	expand := func(s string) []string {
		if !strings.Contains(s, "$LIB") && !strings.Contains(s, "${LIB}") {
			return []string{s}
		}
		var out []string
		for _, n := range ai.LibNames {
			out = append(out, strings.NewReplacer("${LIB}", n, "$LIB", n).Replace(s))
		}
		return out
	}
	for _, l := range expand(lib) {
		if strings.Contains(l, "/") {
			cands = append(cands, path.Clean("/"+l))
			continue
		}
		for _, d := range ai.LibraryDirs {
			cands = append(cands, d+"/"+l)
		}
	}
	for _, c := range cands {
		if st, err := env.Host.FS().Stat(c); err == nil && !st.IsDir() {
			return c, true
		}
	}
	if len(cands) > 0 {
		return cands[0], false
	}
	return lib, false
}

// ELFExports lists the defined global function symbols a shared object
// exports (what it overrides when preloaded). Malformed input is an error,
// never a panic.
func ELFExports(r io.ReaderAt) (syms []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			syms, err = nil, fmt.Errorf("malformed ELF: %v", p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ds, err := f.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range ds {
		if s.Section == elf.SHN_UNDEF || s.Name == "" {
			continue
		}
		t, b := elf.ST_TYPE(s.Info), elf.ST_BIND(s.Info)
		if t != elf.STT_FUNC && t != elf.STT_GNU_IFUNC || b != elf.STB_GLOBAL && b != elf.STB_WEAK {
			continue
		}
		// Versioned names ("readdir@@GLIBC_2.2.5") hook the same function.
		n, _, _ := strings.Cut(s.Name, "@")
		if !seen[n] {
			seen[n] = true
			syms = append(syms, n)
		}
	}
	sort.Strings(syms)
	return syms, nil
}

// maxLibraryBytes bounds hashing of a preloaded library.
const maxLibraryBytes = 256 << 20

func checkPreloadLibrary(_ context.Context, env *Env) ([]findings.Finding, error) {
	ai, err := loadAccountsIntel(env)
	if err != nil {
		return nil, err
	}
	var warns []error
	var refs []preloadRef
	if b, _, err := readText(env, ldSoPreload); err == nil {
		for i, l := range strings.Split(string(b), "\n") {
			for _, lib := range ParsePreloadList(l, true) {
				refs = append(refs, preloadRef{lib: lib, source: ldSoPreload, line: i + 1, content: l})
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		warns = append(warns, err)
	}
	for _, pf := range preloadProfileFiles(env) {
		b, _, err := readText(env, pf)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, host.ErrNotRegular) {
				warns = append(warns, err)
			}
			continue
		}
		lines := strings.Split(string(b), "\n")
		for _, a := range ParseLDPreloadAssignments(string(b)) {
			refs = append(refs, preloadRef{lib: a.Lib, source: pf, line: a.Line, content: lines[a.Line-1]})
		}
	}
	var out []findings.Finding
	done := map[string]bool{}
	for _, r := range refs {
		p, found := resolveLibrary(env, ai, r.lib)
		if done[p] {
			continue
		}
		done[p] = true
		ev := findings.Evidence{
			Path: p, Line: r.line, Content: Printable(r.content, 512),
			Details: map[string]string{"listed_in": fmt.Sprintf("%s:%d", r.source, r.line)},
		}
		if r.source != ldSoPreload {
			ev.Details["how"] = "LD_PRELOAD"
		}
		if d, ok := env.Intel.InTempDir(p); ok {
			ev.Match = []string{"temp dir " + d}
		} else if c, ok := intel.HiddenComponent(p); ok {
			ev.Match = []string{"hidden component " + Printable(c, 64)}
		}
		if ev.Match != nil {
			e := ev
			out = append(out, findings.Finding{
				Rule: "preload.library.location", Severity: findings.High, Signal: findings.SignalHiding,
				Title:       fmt.Sprintf("Preloaded library %s lives in a %s", Printable(p, 256), e.Match[0]),
				Description: fmt.Sprintf("%s:%d preloads a library from a temporary or hidden directory. Packages never install libraries there; droppers do.", r.source, r.line),
				Evidence:    e, Remediation: "Remove the entry and the library, then look for what wrote it.", Confidence: 0.85,
			})
			ev.Match = nil
		}
		if !found {
			out = append(out, findings.Finding{
				Rule: "preload.library.missing", Severity: findings.Medium, Signal: findings.SignalHiding,
				Title:       fmt.Sprintf("Preloaded library %s does not exist", Printable(r.lib, 256)),
				Description: fmt.Sprintf("%s:%d names a library that is not on disk (or is hidden from this scan). A rootkit that hides its own files shows exactly this.", r.source, r.line),
				Evidence:    ev, Remediation: "Scan the disk offline (minerguard scan --root) to see past a hiding library; remove the stale entry.", Confidence: 0.6,
			})
			continue
		}
		syms, sum, size, err := analyseLibrary(env, p)
		if err != nil {
			ev.Details["error"] = Printable(err.Error(), 256)
			out = append(out, findings.Finding{
				Rule: "preload.library.unreadable", Severity: findings.Medium, Signal: findings.SignalHiding,
				Title:       fmt.Sprintf("Preloaded library %s cannot be analysed", Printable(p, 256)),
				Description: fmt.Sprintf("%s:%d preloads a file that could not be read as an ELF shared object: %s", r.source, r.line, Printable(err.Error(), 256)),
				Evidence:    ev, Remediation: "Inspect the file by hand (file, sha256sum) from a trusted system.", Confidence: 0.5,
			})
			continue
		}
		ev.SHA256, ev.Size = sum, size
		var hooks []string
		for _, s := range syms {
			if inList(ai.HookSymbols, s) {
				hooks = append(hooks, s)
			}
		}
		if len(hooks) == 0 {
			continue
		}
		ev.Match = hooks
		out = append(out, findings.Finding{
			Rule: "preload.library.hooks", Severity: findings.High, Signal: findings.SignalHiding,
			Title:       fmt.Sprintf("Preloaded library %s replaces %s", Printable(p, 256), strings.Join(hooks, ", ")),
			Description: fmt.Sprintf("%s:%d preloads a library that exports libc's directory, file or status functions, so every program calls its versions first: the way libprocesshider and mining rootkits hide the miner from ps, top and ls.", r.source, r.line),
			Evidence:    ev, Remediation: "Remove the preload entry and the library, reboot or restart services, then rescan: hidden processes and files become visible.", Confidence: 0.9,
		})
	}
	return out, Warn(warns...)
}

// analyseLibrary lists a host library's exports and hashes it.
func analyseLibrary(env *Env, p string) ([]string, string, int64, error) {
	f, err := env.Host.FS().Open(p)
	if err != nil {
		return nil, "", 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", 0, err
	}
	syms, err := ELFExports(f)
	if err != nil {
		return nil, "", 0, fmt.Errorf("%s: %w", p, err)
	}
	sum, err := sigscan.HashReader(io.NewSectionReader(f, 0, min(st.Size(), maxLibraryBytes)))
	if err != nil {
		return nil, "", 0, fmt.Errorf("%s: %w", p, err)
	}
	return syms, sum, st.Size(), nil
}
