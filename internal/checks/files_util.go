package checks

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/sigscan"
)

// filesIntel is data/files.json: the indicators of the file checks
// (files.suspicious, files.webminer, files.wallets).
type filesIntel struct {
	Description string         `json:"description"`
	Sources     []intel.Source `json:"sources"`
	Search      struct {
		MaxDepth        int      `json:"max_depth"`
		MaxEntries      int      `json:"max_entries"`
		FullMaxDepth    int      `json:"full_max_depth"`
		FullMaxEntries  int      `json:"full_max_entries"`
		HomeHiddenDepth int      `json:"home_hidden_depth"`
		HomePlainDepth  int      `json:"home_plain_depth"`
		SkipDirs        []string `json:"skip_dirs"`
		SkipFSTypes     []string `json:"skip_fstypes"`
		SystemDirs      []string `json:"system_dirs"`
		ConfigNames     []string `json:"config_names"`
		ConfigExts      []string `json:"config_exts"`
		MaxScriptSize   int64    `json:"max_script_size"`
	} `json:"search"`
	Scripts struct {
		Downloaders []string `json:"downloaders"`
		Shells      []string `json:"shells"`
		ChmodExec   []string `json:"chmod_exec"`
	} `json:"scripts"`
	Web struct {
		Roots          []string     `json:"roots"`
		NginxConfigs   []string     `json:"nginx_configs"`
		ApacheConfigs  []string     `json:"apache_configs"`
		Extensions     []string     `json:"extensions"`
		MaxFileSize    int64        `json:"max_file_size"`
		BlocklistHosts int          `json:"blocklist_hosts"`
		Patterns       []webPattern `json:"patterns"`
		WasmNames      []struct {
			Text     string `json:"text"`
			Strength string `json:"strength"`
		} `json:"wasm_names"`
		HostsSource string   `json:"hosts_source"`
		Hosts       []string `json:"hosts"`
		ScriptPaths []string `json:"script_paths"`
	} `json:"webminer"`
	Wallets struct {
		MaxDepth      int      `json:"max_depth"`
		MoneroKeysExt string   `json:"monero_keys_ext"`
		BitcoinNames  []string `json:"bitcoin_names"`
		ElectrumDirs  []string `json:"electrum_dirs"`
		KeystoreName  string   `json:"keystore_name"`
		KeystoreKeys  []string `json:"keystore_keys"`
	} `json:"wallets"`
	Managers []struct {
		Name  string   `json:"name"`
		Paths []string `json:"paths"`
		Note  string   `json:"note"`
	} `json:"managers"`
	History struct {
		Files      []string `json:"files"`
		Wrappers   []string `json:"wrappers"`
		MaxSize    int64    `json:"max_size"`
		MaxPerFile int      `json:"max_per_file"`
	} `json:"history"`

	// Compiled forms.
	hostSet    map[string]bool
	keystoreRE *regexp.Regexp
	wrappers   map[string]bool
}

// webPattern is a browser-miner code pattern, matched on normalised,
// lower-cased page text (see webNormalize).
type webPattern struct {
	ID       string `json:"id"`
	Regex    string `json:"regex"`
	Strength string `json:"strength"` // strong, weak
	Note     string `json:"note"`
	re       *regexp.Regexp
}

var filesIntelCache sync.Map // *intel.DB -> *filesIntelEntry

type filesIntelEntry struct {
	once sync.Once
	fi   *filesIntel
	err  error
}

// loadFilesIntel decodes and validates data/files.json once per intel set.
func loadFilesIntel(db *intel.DB) (*filesIntel, error) {
	v, _ := filesIntelCache.LoadOrStore(db, &filesIntelEntry{})
	e := v.(*filesIntelEntry)
	e.once.Do(func() { e.fi, e.err = decodeFilesIntel(db) })
	return e.fi, e.err
}

func decodeFilesIntel(db *intel.DB) (*filesIntel, error) {
	fi := &filesIntel{}
	if err := db.Section("files", fi); err != nil {
		return nil, err
	}
	s := &fi.Search
	if s.MaxDepth <= 0 || s.MaxEntries <= 0 || s.FullMaxDepth <= 0 || s.FullMaxEntries <= 0 || s.HomeHiddenDepth <= 0 || s.HomePlainDepth <= 0 || s.MaxScriptSize <= 0 {
		return nil, fmt.Errorf("intel files.json: search: depth, entry and size limits must be positive")
	}
	if fi.Web.MaxFileSize <= 0 || fi.History.MaxSize <= 0 || fi.History.MaxPerFile <= 0 || fi.Wallets.MaxDepth <= 0 {
		return nil, fmt.Errorf("intel files.json: webminer.max_file_size, history limits and wallets.max_depth must be positive")
	}
	for i := range fi.Web.Patterns {
		p := &fi.Web.Patterns[i]
		if p.Strength != "strong" && p.Strength != "weak" {
			return nil, fmt.Errorf("intel files.json: webminer.patterns[%d] (%s): strength %q", i, p.ID, p.Strength)
		}
		re, err := regexp.Compile(p.Regex)
		if err != nil {
			return nil, fmt.Errorf("intel files.json: webminer.patterns[%d] (%s): %w", i, p.ID, err)
		}
		p.re = re
	}
	for i, w := range fi.Web.WasmNames {
		if w.Text == "" || (w.Strength != "strong" && w.Strength != "weak") {
			return nil, fmt.Errorf("intel files.json: webminer.wasm_names[%d]: empty text or bad strength %q", i, w.Strength)
		}
	}
	fi.hostSet = map[string]bool{}
	for i, h := range fi.Web.Hosts {
		n := intel.NormalizeDomain(h)
		if n == "" || !strings.Contains(n, ".") {
			return nil, fmt.Errorf("intel files.json: webminer.hosts[%d]: %q is not a host", i, h)
		}
		fi.hostSet[n] = true
	}
	re, err := regexp.Compile(fi.Wallets.KeystoreName)
	if err != nil {
		return nil, fmt.Errorf("intel files.json: wallets.keystore_name: %w", err)
	}
	fi.keystoreRE = re
	fi.wrappers = map[string]bool{}
	for _, w := range fi.History.Wrappers {
		fi.wrappers[w] = true
	}
	return fi, nil
}

// webHost reports whether a host name or one of its parents is a listed
// browser-mining host.
func (fi *filesIntel) webHost(h string) (string, bool) {
	n := intel.NormalizeDomain(h)
	for n != "" {
		if fi.hostSet[n] {
			return n, true
		}
		i := strings.IndexByte(n, '.')
		if i < 0 {
			break
		}
		n = n[i+1:]
	}
	return "", false
}

// inDirs reports whether p is one of dirs or below one.
func inDirs(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// walkLimits bound a file-tree walk.
type walkLimits struct {
	maxDepth int
	// descend, when set, decides whether to enter dir (depth of dir below
	// the walk's root, root = 0).
	descend func(dir string, depth int) bool
}

// walker walks host trees iteratively (no recursion to blow the stack on
// hostile trees), never following symbolic links, visiting each directory
// once (by device and inode, so bind mounts and repeated roots do not loop)
// and stopping after a shared entry budget.
type walker struct {
	fs        host.FS
	budget    int
	skipDirs  []string
	seen      map[[2]uint64]bool
	seenPath  map[string]bool
	truncated bool
	errs      []string
}

func newWalker(fsys host.FS, budget int, skip []string) *walker {
	return &walker{fs: fsys, budget: budget, skipDirs: skip, seen: map[[2]uint64]bool{}, seenPath: map[string]bool{}}
}

// maxWalkErrs bounds the unreadable-directory messages kept for the log.
const maxWalkErrs = 20

// walk visits the regular files under root. visit gets the host path, the
// entry and its depth (a file directly in root has depth 1).
func (w *walker) walk(ctx context.Context, root string, lim walkLimits, visit func(p string, d fs.DirEntry, depth int)) {
	root = path.Clean("/" + root)
	st, err := w.fs.Lstat(root)
	if err != nil || !st.IsDir() {
		return
	}
	type item struct {
		dir   string
		depth int
	}
	if !w.mark(root, st) {
		return
	}
	stack := []item{{root, 0}}
	for len(stack) > 0 {
		if ctx.Err() != nil {
			return
		}
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		ents, err := w.fs.ReadDir(it.dir)
		if err != nil {
			if len(w.errs) < maxWalkErrs {
				w.errs = append(w.errs, err.Error())
			}
			continue
		}
		for _, d := range ents {
			if w.budget <= 0 {
				w.truncated = true
				return
			}
			w.budget--
			p := path.Join(it.dir, d.Name())
			t := d.Type()
			switch {
			case t&fs.ModeSymlink != 0:
				continue
			case t.IsDir():
				if it.depth+1 > lim.maxDepth || inDirs(p, w.skipDirs) {
					continue
				}
				if lim.descend != nil && !lim.descend(p, it.depth+1) {
					continue
				}
				info, err := d.Info()
				if err != nil || !w.mark(p, info) {
					continue
				}
				stack = append(stack, item{p, it.depth + 1})
			case t.IsRegular():
				visit(p, d, it.depth+1)
			}
		}
	}
}

// mark records a directory, reporting false if it was already walked.
func (w *walker) mark(p string, info fs.FileInfo) bool {
	if w.seenPath[p] {
		return false
	}
	w.seenPath[p] = true
	if dev, ino, ok := dirID(info); ok {
		k := [2]uint64{dev, ino}
		if w.seen[k] {
			return false
		}
		w.seen[k] = true
	}
	return true
}

// pseudoMounts lists the mount points of pseudo and network filesystems on
// a live host (from /proc/self/mountinfo), which a full walk skips.
func pseudoMounts(env *Env, fstypes []string) []string {
	p := env.Host.Proc()
	if p == nil || env.Host.Root() != "/" {
		return nil
	}
	b, err := p.ReadGlobal("self/mountinfo")
	if err != nil {
		return nil
	}
	return parseMountinfo(b, fstypes)
}

// parseMountinfo returns the mount points whose filesystem type is in
// fstypes. Lines it cannot read are skipped.
func parseMountinfo(b []byte, fstypes []string) []string {
	skip := map[string]bool{}
	for _, t := range fstypes {
		skip[t] = true
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		pf := strings.Fields(post)
		if len(f) < 5 || len(pf) < 1 || !skip[pf[0]] {
			continue
		}
		mp := unescapeOctal(f[4])
		if mp != "/" && strings.HasPrefix(mp, "/") {
			out = append(out, path.Clean(mp))
		}
	}
	sort.Strings(out)
	return out
}

// unescapeOctal decodes the \ooo escapes the kernel writes for spaces,
// tabs, newlines and backslashes in mount paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// exeKind is what a file's first bytes say it is.
type exeKind int

const (
	exeNone   exeKind = iota
	exeELF            // an ELF program (executable or PIE)
	exeELFLib         // an ELF shared library or object
	exePE             // a Windows PE image
	exeELFObj         // an ELF relocatable object (compiler output; cannot run)
)

func (k exeKind) String() string {
	switch k {
	case exeELF:
		return "ELF executable"
	case exeELFLib:
		return "ELF shared object"
	case exePE:
		return "PE (Windows) executable"
	case exeELFObj:
		return "ELF object file"
	}
	return "file"
}

// headerSize is how much of a file classifyExe needs for the PE offset.
const headerSize = 4096

// classifyExe tells ELF programs, ELF libraries and PE images apart from
// the header; f is used to read ELF program headers when needed.
func classifyExe(head []byte, f io.ReaderAt) exeKind {
	switch {
	case len(head) >= 20 && bytes.HasPrefix(head, []byte("\x7fELF")):
		var typ uint16
		if head[5] == 2 {
			typ = binary.BigEndian.Uint16(head[16:18])
		} else {
			typ = binary.LittleEndian.Uint16(head[16:18])
		}
		switch elf.Type(typ) {
		case elf.ET_REL:
			return exeELFObj
		case elf.ET_EXEC:
			return exeELF
		case elf.ET_DYN:
			// PIE programs are ET_DYN too: they ask for an interpreter
			// or carry DF_1_PIE; shared libraries do neither.
			ef, err := elf.NewFile(f)
			if err != nil {
				return exeELF // a mangled header is no reason to look away
			}
			for _, p := range ef.Progs {
				if p.Type == elf.PT_INTERP {
					return exeELF
				}
			}
			if v, err := ef.DynValue(elf.DT_FLAGS_1); err == nil && len(v) > 0 && v[0]&uint64(elf.DF_1_PIE) != 0 {
				return exeELF
			}
			return exeELFLib
		}
		return exeELFLib
	case len(head) >= 0x40 && head[0] == 'M' && head[1] == 'Z':
		off := int(binary.LittleEndian.Uint32(head[0x3c:0x40]))
		if off > 0 && off+4 <= len(head) && bytes.Equal(head[off:off+4], []byte("PE\x00\x00")) {
			return exePE
		}
	}
	return exeNone
}

// minerguardModule is this program's Go module path.
const minerguardModule = "github.com/minerguard/minerguard"

// isMinerguardBuild reports whether f is a Go program built from
// minerguard's own module (the scanner, its tests and tools): it embeds
// every signature as intel data, and admins commonly copy it to /tmp to
// run it. A miner would have to be a Go program claiming this module path
// to pass, and it still faces the process checks when it runs.
func isMinerguardBuild(f io.ReaderAt) bool {
	bi, err := buildinfo.Read(f)
	return err == nil && bi.Main.Path == minerguardModule
}

// readHead reads up to n bytes from the start of a file.
func readHead(f io.ReaderAt, n int) []byte {
	buf := make([]byte, n)
	m, _ := f.ReadAt(buf, 0)
	return buf[:m]
}

// readBounded reads a host file of at most max bytes; larger files are an
// error naming the file.
func readBounded(fsys host.FS, p string, max int64) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, max)
	}
	return b, nil
}

// sha256File hashes a host file — for findings only: a scan never hashes
// files it reports nothing about.
func sha256File(fsys host.FS, p string) (string, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return sigscan.HashReader(f)
}

// fileSHA256 is sha256File for evidence, "" when the file cannot be read.
func fileSHA256(fsys host.FS, p string) string {
	sum, _ := sha256File(fsys, p)
	return sum
}

// userHomes lists /root and the directories in /home: where people keep
// files. Not /etc/passwd: system accounts' "homes" (/bin, /usr/sbin,
// /var/lib/x) are not places to search for a user's wallets and tools, an
// offline root's passwd may be gone while the homes remain, and users
// created by malware still get a directory here.
func userHomes(fsys host.FS) []string {
	out := []string{}
	if st, err := fsys.Lstat("/root"); err == nil && st.IsDir() {
		out = append(out, "/root")
	}
	ents, err := fsys.ReadDir("/home")
	if err != nil {
		return out
	}
	for _, d := range ents {
		if d.IsDir() {
			out = append(out, path.Join("/home", d.Name()))
		}
	}
	return out
}
