package checks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/pkgdb"
)

func init() {
	registerFunc(Info{
		ID:          "integrity.attributes",
		Title:       "Immutable and append-only system files",
		Description: "Reports the immutable (i) and append-only (a) inode flags on cron files, SSH authorized_keys, account files, ld.so.preload, resolv.conf, hosts, rc.local and system binaries: miners set them so administrators and competing malware cannot remove their persistence.",
		Needs:       NeedsFS,
		Default:     true,
	}, checkIntegrityAttrs)
}

// Inode flags of FS_IOC_GETFLAGS (linux/fs.h), the ones chattr shows as
// "i" and "a".
const (
	fsImmutableFL = 0x00000010
	fsAppendFL    = 0x00000020
)

// errFlagsUnsupported means the file system or platform has no inode flags.
var errFlagsUnsupported = host.ErrFlagsUnsupported

// maxAttrFiles bounds the files one scan asks about.
const maxAttrFiles = 100000

// flagLetters renders flags as chattr's letters.
func flagLetters(flags uint32) string {
	s := ""
	if flags&fsImmutableFL != 0 {
		s += "i"
	}
	if flags&fsAppendFL != 0 {
		s += "a"
	}
	return s
}

// expandHostGlob expands a pattern of path.Match components through fsys
// (no shell braces, no "**"); links inside the pattern's directories are
// followed by the FS, the final entries are returned as named.
func expandHostGlob(fsys host.FS, pattern string) []string {
	parts := strings.Split(strings.Trim(path.Clean(pattern), "/"), "/")
	cur := []string{"/"}
	for _, part := range parts {
		var next []string
		for _, dir := range cur {
			if !strings.ContainsAny(part, "*?[") {
				next = append(next, path.Join(dir, part))
				continue
			}
			es, err := fsys.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range es {
				if ok, _ := path.Match(part, e.Name()); ok {
					next = append(next, path.Join(dir, e.Name()))
				}
			}
			if len(next) > maxAttrFiles {
				break
			}
		}
		cur = next
	}
	return cur
}

func checkIntegrityAttrs(ctx context.Context, env *Env) ([]findings.Finding, error) {
	cfg, err := loadIntegrityIntel(env.Intel)
	if err != nil {
		return nil, err
	}
	fsys := env.Host.FS()
	type target struct {
		host string
		sev  findings.Severity
	}
	byReal := map[string]*target{}
	var order []string
	for _, p := range cfg.Attributes.Paths {
		for _, hp := range expandHostGlob(fsys, p.Glob) {
			if len(byReal) >= maxAttrFiles || ctx.Err() != nil {
				break
			}
			// One entry per real file: /bin/ls and /usr/bin/ls are one
			// file on a merged-/usr system.
			key := pkgdb.Canonical(fsys, path.Dir(hp)) + "/" + path.Base(hp)
			if t, ok := byReal[key]; ok {
				t.sev = findings.Max(t.sev, p.Severity)
				continue
			}
			byReal[key] = &target{host: key, sev: p.Severity}
			order = append(order, key)
		}
	}
	var out []findings.Finding
	unsupported := 0
	for _, key := range order {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t := byReal[key]
		st, err := fsys.Lstat(t.host)
		if err != nil || !(st.Mode().IsRegular() || st.IsDir()) {
			continue // missing, a link (its target is listed on its own), a device
		}
		real, err := fsys.RealPath(t.host)
		if err != nil {
			continue
		}
		flags, err := host.InodeFlags(real)
		if errors.Is(err, errFlagsUnsupported) {
			unsupported++
			continue
		}
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				env.Log.Debug("integrity.attributes", "path", t.host, "err", err)
			}
			continue
		}
		letters := flagLetters(flags)
		if letters == "" {
			continue
		}
		out = append(out, attrFinding(t.host, letters, t.sev, st.IsDir()))
	}
	if unsupported > 0 && len(out) == 0 && unsupported == len(order) {
		return nil, Skipped("the file system has no inode flags")
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Evidence.Path < out[j].Evidence.Path })
	return out, nil
}

func attrFinding(p, letters string, sev findings.Severity, dir bool) findings.Finding {
	what := map[string]string{"i": "immutable", "a": "append-only", "ia": "immutable and append-only"}[letters]
	kind := "file"
	if dir {
		kind = "directory"
	}
	return findings.Finding{
		Rule:        "integrity.immutable_file",
		Severity:    sev,
		Signal:      findings.SignalIntegrity,
		Title:       fmt.Sprintf("%s is %s (chattr +%s)", Printable(p, 256), what, letters),
		Description: fmt.Sprintf("The %s carries the %s inode flag: not even root can change or delete it until the flag is cleared. Mining malware sets it on its cron jobs, SSH keys, ld.so.preload, account files and replaced binaries so that administrators' cleanup and competing malware fail with \"Operation not permitted\". Administrators rarely set it on these files.", kind, what),
		Evidence:    findings.Evidence{Path: Printable(p, 4096), Details: map[string]string{"flags": letters}},
		Remediation: fmt.Sprintf("Cleaning must clear the flag first: chattr -ia %s (check that chattr itself is genuine: integrity.packages). Then review the content, and look for a process or cron job that sets it again.", p),
		Confidence:  0.75,
	}
}
