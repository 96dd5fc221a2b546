package checks

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/pkgdb"
)

func init() {
	registerFunc(Info{
		ID:          "integrity.packages",
		Title:       "System binaries against the package database",
		Description: "Verifies the files of system binary directories against the digests dpkg or rpm recorded, and reports executables no package owns, system tools replaced by filtering script wrappers, and copies of curl or wget under other names.",
		Needs:       NeedsFS,
		Default:     true,
	}, checkIntegrityPackages)
}

const (
	// maxWalkFiles bounds the files one scan looks at in the verified
	// directories; a real system has a few thousand.
	maxWalkFiles = 200000
	// maxWalkDepth bounds recursion below a verified directory.
	maxWalkDepth = 8
	// maxCopyDepth is how deep downloader copies are looked for in the
	// drop directories (/tmp/.x/y is common, deeper trees are not).
	maxCopyDepth = 2
	// maxScriptRead is how much of a wrapper script is searched.
	maxScriptRead = 64 << 10
	// maxInfoFindings caps informational findings for admin tools.
	maxInfoFindings = 50
)

// binFile is one regular file found in a verified directory.
type binFile struct {
	path  string // resolved host path
	dir   string // the resolved verified directory it was found under
	size  int64
	owned *pkgdb.File

	// Results of the single read.
	head      []byte // first bytes (ELF magic, #!, whole small script)
	digestOK  bool   // the recorded digest matched
	digest    string // computed digest in the recorded algorithm
	sha256    string // when a downloader's size matched or the file is flagged
	readErr   error
	verified  bool
	wantSHA   bool
	isWrapped bool
	// unchanged: the inode has not changed since the package manager
	// recorded its digest, so hashing it can only confirm the record.
	unchanged bool
}

func checkIntegrityPackages(ctx context.Context, env *Env) ([]findings.Finding, error) {
	cfg, err := loadIntegrityIntel(env.Intel)
	if err != nil {
		return nil, err
	}
	pc := cfg.Packages
	fsys := env.Host.FS()
	db, dbErr := pkgdb.Open(fsys, pc.VerifyDirs)
	if dbErr != nil {
		// Wrappers and downloader copies are still found without one.
		env.Log.Info("integrity.packages: no package verification", "err", dbErr)
		db = nil
	} else {
		for _, w := range db.Warnings {
			env.Log.Warn("integrity.packages: package database", "warning", w)
		}
	}

	canon := func(dirs []string) map[string]bool {
		out := map[string]bool{}
		for _, d := range dirs {
			out[pkgdb.Canonical(fsys, d)] = true
		}
		return out
	}
	execDirs, adminDirs := canon(pc.ExecDirs), canon(pc.AdminDirs)
	expected := map[string]bool{}
	for _, p := range pc.ExpectedUnowned {
		expected[pkgdb.Canonical(fsys, path.Dir(p))+"/"+path.Base(p)] = true
	}
	wrapped := map[string]bool{}
	for _, t := range pc.WrappedTools {
		wrapped[t] = true
	}

	// The downloaders' sizes and hashes: a copy has the same size, so only
	// files of that size are hashed.
	type dl struct{ path, sha string }
	dlBySize := map[int64][]dl{}
	dlPaths := map[string]bool{}
	for _, d := range pc.Downloaders {
		p := pkgdb.Canonical(fsys, path.Dir(d)) + "/" + path.Base(d)
		st, err := fsys.Stat(p)
		if err != nil || !st.Mode().IsRegular() || dlPaths[p] {
			continue
		}
		sum, err := sha256File(fsys, p)
		if err != nil {
			continue
		}
		dlPaths[p] = true
		dlBySize[st.Size()] = append(dlBySize[st.Size()], dl{p, sum})
	}

	// Walk the verified directories (each resolved one once) and the
	// places downloader copies are dropped.
	var files []*binFile
	seen := map[string]bool{}
	add := func(dir string, maxDepth int) {
		walkDir(ctx, fsys, dir, maxDepth, 0, func(p string, size int64) {
			if seen[p] || len(files) >= maxWalkFiles {
				return
			}
			seen[p] = true
			bf := &binFile{path: p, dir: dir, size: size}
			if db != nil {
				bf.owned = db.Files[p]
			}
			_, sizeMatch := dlBySize[size]
			bf.wantSHA = sizeMatch && !dlPaths[p]
			bf.isWrapped = wrapped[path.Base(p)] && (execDirs[path.Dir(p)] || adminDirs[path.Dir(p)])
			files = append(files, bf)
		})
	}
	verifyDirs := map[string]bool{}
	for _, d := range pc.VerifyDirs {
		c := pkgdb.Canonical(fsys, d)
		if !verifyDirs[c] {
			verifyDirs[c] = true
			add(c, maxWalkDepth)
		}
	}
	for _, d := range append(append([]string{}, pc.CopyDirs...), env.Paths...) {
		add(pkgdb.Canonical(fsys, d), maxCopyDepth)
	}
	underVerified := func(p string) bool {
		for d := range verifyDirs {
			if strings.HasPrefix(p, d+"/") {
				return true
			}
		}
		return false
	}

	// Read each file once, hashing with what it needs, on a few workers.
	workers := min(runtime.GOMAXPROCS(0), 4)
	jobs := make(chan *binFile)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bf := range jobs {
				readBinFile(fsys, bf, underVerified(bf.path), !env.Full)
			}
		}()
	}
	for _, bf := range files {
		if ctx.Err() != nil {
			break
		}
		jobs <- bf
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var out []findings.Finding
	infos := 0
	reinstall := func(pkg string) string {
		if db == nil {
			return ""
		}
		return db.ReinstallCommand(pkg)
	}
	for _, bf := range files {
		if bf.readErr != nil {
			env.Log.Debug("integrity.packages: read", "path", bf.path, "err", bf.readErr)
			continue
		}
		if skipName(bf.path, pc.SkipSuffixes) {
			continue
		}
		script := bytes.HasPrefix(bf.head, []byte("#!"))
		exe := script || bytes.HasPrefix(bf.head, []byte("\x7fELF"))
		modified := bf.owned != nil && bf.verified && !bf.digestOK && !bf.unchanged
		switch {
		case bf.isWrapped && script && (bf.owned == nil || modified):
			out = append(out, wrapperFinding(fsys, bf, pc.FilterPatterns, reinstall))
			continue
		case modified:
			out = append(out, modifiedFinding(fsys, bf, reinstall(bf.owned.Package)))
		case db != nil && bf.owned == nil && exe && underVerified(bf.path):
			switch {
			case execDirs[path.Dir(bf.path)] && !expected[bf.path]:
				out = append(out, unownedFinding(fsys, bf, findings.Medium, db.Manager))
			case (adminDirs[path.Dir(bf.path)] || expected[bf.path]) && infos < maxInfoFindings:
				infos++
				out = append(out, unownedFinding(fsys, bf, findings.Info, db.Manager))
			}
		}
		if bf.sha256 != "" {
			for _, d := range dlBySize[bf.size] {
				if d.sha == bf.sha256 && !(bf.owned != nil && bf.digestOK) {
					out = append(out, downloaderCopyFinding(bf, d.path))
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Evidence.Path < out[j].Evidence.Path })
	return out, nil
}

// walkDir calls fn for each regular file under dir (not following links).
func walkDir(ctx context.Context, fsys host.FS, dir string, maxDepth, depth int, fn func(p string, size int64)) {
	if ctx.Err() != nil || depth > maxDepth {
		return
	}
	es, err := fsys.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range es {
		p := path.Join(dir, e.Name())
		switch t := e.Type(); {
		case t.IsDir():
			walkDir(ctx, fsys, p, maxDepth, depth+1, fn)
		case t.IsRegular():
			if info, err := e.Info(); err == nil {
				fn(p, info.Size())
			}
		}
	}
}

func skipName(p string, suffixes []string) bool {
	for _, s := range suffixes {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

// newHash returns the hash for a recorded digest algorithm.
func newHash(a pkgdb.Algo) hash.Hash {
	switch a {
	case pkgdb.AlgoMD5:
		return md5.New()
	case pkgdb.AlgoSHA1:
		return sha1.New()
	case pkgdb.AlgoSHA256:
		return sha256.New()
	case pkgdb.AlgoSHA384:
		return sha512.New384()
	case pkgdb.AlgoSHA512:
		return sha512.New()
	case pkgdb.AlgoSHA224:
		return sha256.New224()
	}
	return nil
}

// readBinFile reads a file once: its head always, and its whole content
// through the hashes it needs (the package digest, sha256 for a possible
// downloader copy, the text of a possible wrapper script).
// ctimeSlack allows for dpkg writing .md5sums a moment after unpacking.
const ctimeSlack = 5 * time.Second

// readBinFile reads a file once for its head and the digests it needs.
// With trustCtime, a packaged file whose inode change time (which no
// user-space call can set back) predates its package's digest record is
// not hashed: it cannot have changed since installation. --full hashes all.
func readBinFile(fsys host.FS, bf *binFile, verify, trustCtime bool) {
	f, err := fsys.Open(bf.path)
	if err != nil {
		bf.readErr = err
		return
	}
	defer f.Close()
	if trustCtime && verify && bf.owned != nil && !bf.owned.Recorded.IsZero() {
		if st, err := f.Stat(); err == nil {
			if ct, ok := changeTime(st); ok && !ct.After(bf.owned.Recorded.Add(ctimeSlack)) {
				bf.unchanged = true
				verify = false
			}
		}
	}
	headSize := 4
	if bf.isWrapped {
		headSize = maxScriptRead
	}
	buf := make([]byte, headSize)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		bf.readErr = err
		return
	}
	bf.head = buf[:n]
	var ws []io.Writer
	var pkgHash, shaHash hash.Hash
	if verify && bf.owned != nil && bf.owned.Digest != "" && !bf.owned.Conffile {
		if pkgHash = newHash(bf.owned.Algo); pkgHash != nil {
			ws = append(ws, pkgHash)
		}
	}
	if bf.wantSHA {
		shaHash = sha256.New()
		ws = append(ws, shaHash)
	}
	if len(ws) == 0 {
		return
	}
	w := io.MultiWriter(ws...)
	w.Write(bf.head)
	if _, err := io.Copy(w, f); err != nil {
		bf.readErr = err
		return
	}
	if pkgHash != nil {
		bf.verified = true
		bf.digest = hex.EncodeToString(pkgHash.Sum(nil))
		bf.digestOK = strings.EqualFold(bf.digest, bf.owned.Digest)
	}
	if shaHash != nil {
		bf.sha256 = hex.EncodeToString(shaHash.Sum(nil))
	}
}

func fillSHA(fsys host.FS, bf *binFile) {
	if bf.sha256 == "" {
		bf.sha256, _ = sha256File(fsys, bf.path)
	}
}

func modifiedFinding(fsys host.FS, bf *binFile, cmd string) findings.Finding {
	fillSHA(fsys, bf)
	pkg := bf.owned.Package
	details := map[string]string{
		"package":  pkg,
		"algo":     bf.owned.Algo.String(),
		"expected": bf.owned.Digest,
		"actual":   bf.digest,
	}
	if bf.owned.Diverted != "" {
		details["diverted_from"] = bf.owned.Diverted
	}
	return findings.Finding{
		Rule:        "integrity.package_modified",
		Severity:    findings.High,
		Signal:      findings.SignalIntegrity,
		Title:       fmt.Sprintf("%s differs from package %s", Printable(bf.path, 256), Printable(pkg, 64)),
		Description: fmt.Sprintf("The %s digest of this system binary does not match the one the package manager recorded when %s was installed. Mining malware replaces tools such as ps, top and netstat to hide itself, or plants its loader in a system binary; legitimate changes to packaged binaries are rare (prelink, a manual rebuild).", bf.owned.Algo, Printable(pkg, 64)),
		Evidence:    findings.Evidence{Path: Printable(bf.path, 4096), SHA256: bf.sha256, Size: bf.size, Details: details},
		Remediation: fmt.Sprintf("Keep a copy for analysis, clear immutable attributes if set (chattr -ia %s), then restore the package: %s. Treat the host as compromised until the cause is known.", bf.path, cmd),
		Confidence:  0.85,
	}
}

func unownedFinding(fsys host.FS, bf *binFile, sev findings.Severity, manager string) findings.Finding {
	if sev > findings.Info {
		// Hash what needs follow-up only: admins' own tools in /usr/local
		// are listed for review, and hashing a 100 MB terraform on every
		// scan is most of this check's cost.
		fillSHA(fsys, bf)
	}
	kind := "ELF binary"
	if bytes.HasPrefix(bf.head, []byte("#!")) {
		kind = "script"
	}
	f := findings.Finding{
		Rule:        "integrity.unowned_executable",
		Severity:    sev,
		Signal:      findings.SignalIntegrity,
		Title:       fmt.Sprintf("%s (%s) belongs to no %s package", Printable(bf.path, 256), kind, manager),
		Description: "An executable in a system binary directory that the package manager did not install. Droppers put miners and their helpers here so they run from a trusted-looking path.",
		Evidence:    findings.Evidence{Path: Printable(bf.path, 4096), SHA256: bf.sha256, Size: bf.size, Details: map[string]string{"kind": kind}},
		Remediation: "Find out who installed it (file times, shell history, configuration management); if nobody did, keep a copy, remove it, and look for what starts it (cron, systemd units).",
		Confidence:  0.6,
	}
	if sev == findings.Info {
		f.Rule = "integrity.local_executable"
		f.Description = "An executable that no package installed, in a place where administrators and image builders put their own tools (/usr/local, Docker's policy-rc.d), listed for review only."
		f.Remediation = "Review that the tool is known; no action is needed for the administrators' own tools."
		f.Confidence = 0.2
	}
	return f
}

func wrapperFinding(fsys host.FS, bf *binFile, patterns []string, reinstall func(string) string) findings.Finding {
	fillSHA(fsys, bf)
	tool := path.Base(bf.path)
	var match []string
	line := 0
	for i, l := range strings.Split(string(bf.head), "\n") {
		for _, p := range patterns {
			if strings.Contains(l, p) {
				match = append(match, Printable(strings.TrimSpace(l), 256))
				if line == 0 {
					line = i + 1
				}
				break
			}
		}
	}
	sev, conf := findings.Medium, 0.6
	desc := fmt.Sprintf("%s is normally a compiled program; here it is a script. Rootkits replace process and network tools with a script that calls the real binary and filters its output.", tool)
	if len(match) > 0 {
		sev, conf = findings.High, 0.9
		desc = fmt.Sprintf("%s is a script that filters the output of the real tool (%s): the classic way miners hide their processes, files and connections from administrators.", tool, strings.Join(match, "; "))
	}
	ev := findings.Evidence{Path: Printable(bf.path, 4096), SHA256: bf.sha256, Size: bf.size, Match: match, Line: line, Content: Printable(string(bf.head), 2048)}
	rem := fmt.Sprintf("Do not trust %s's output on this host (minerguard reads /proc itself). Keep the script for analysis, run chattr -ia %s, then remove it", tool, bf.path)
	if bf.owned != nil {
		ev.Details = map[string]string{"package": bf.owned.Package}
		rem += " and restore the package: " + reinstall(bf.owned.Package)
	} else {
		rem += " and restore the real binary it calls (the package that ships " + tool + ")"
	}
	return findings.Finding{
		Rule:        "integrity.tool_wrapper",
		Severity:    sev,
		Signal:      findings.SignalIntegrity,
		Title:       fmt.Sprintf("%s is a script wrapper", Printable(bf.path, 256)),
		Description: desc,
		Evidence:    ev,
		Remediation: rem + ".",
		Confidence:  conf,
	}
}

func downloaderCopyFinding(bf *binFile, orig string) findings.Finding {
	return findings.Finding{
		Rule:        "integrity.downloader_copy",
		Severity:    findings.High,
		Signal:      findings.SignalIntegrity,
		Title:       fmt.Sprintf("%s is a copy of %s", Printable(bf.path, 256), orig),
		Description: fmt.Sprintf("The file is byte-for-byte %s under another name. Mining droppers copy curl and wget to new names, then remove or break the originals so that administrators and competing malware cannot download, while their own cron jobs keep fetching payloads.", orig),
		Evidence:    findings.Evidence{Path: Printable(bf.path, 4096), SHA256: bf.sha256, Size: bf.size, Paths: []string{orig}},
		Remediation: fmt.Sprintf("Find what runs %s (cron, systemd units, shell profiles), then delete the copy (chattr -ia first if it is immutable).", bf.path),
		Confidence:  0.8,
	}
}
