package checks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/minercfg"
)

func init() {
	registerFunc(Info{
		ID:          "containers.config",
		Title:       "Docker API exposed without TLS; containers that run miners",
		Description: "Reads dockerd's listen addresses (daemon.json, docker.service/docker.socket units and drop-ins, /etc/default/docker) for a TCP API without tlsverify, and the stored configuration of Docker and Podman containers and Kubernetes static pods for miner images, miner programs, pool URLs, miner flags and wallets (intel containers.json, miners.json, cmdline.json).",
		Needs:       NeedsFS,
		Default:     true,
	}, checkContainers)
}

// containersIntel is internal/intel/data/containers.json.
type containersIntel struct {
	Comment       string `json:"comment"`
	ImageKeywords []struct {
		Keyword string `json:"keyword"`
		Source  string `json:"source"`
	} `json:"image_keywords"`
	DaemonFiles    []string `json:"daemon_files"`
	EnvFiles       []string `json:"env_files"`
	UnitFiles      []string `json:"unit_files"`
	UnitDropinDirs []string `json:"unit_dropin_dirs"`
}

const (
	// maxContainerFile bounds one config read: real ones are a few KiB.
	maxContainerFile = 4 << 20
	// maxContainers bounds the work on a host with absurdly many stored
	// containers (each costs one or two small reads).
	maxContainers = 20000
	// defaultDockerRoot is dockerd's data-root unless daemon.json moves it.
	defaultDockerRoot = "/var/lib/docker"
)

const dockerAPIRemediation = "Bind the Docker API to the unix socket only (remove tcp:// from -H/hosts), or require client certificates (tlsverify with tlscacert, tlscert, tlskey) and firewall the port; then check the host for containers and images you did not start — an open Docker API is a common way miners get in."

const minerContainerRemediation = "Confirm with the owner; if unauthorised, stop and remove the container (docker rm -f / podman rm -f / delete the manifest), remove its image, and find how it was started (an exposed Docker or kubelet API, stolen credentials)."

func checkContainers(_ context.Context, env *Env) ([]findings.Finding, error) {
	var ci containersIntel
	if err := env.Intel.Section("containers", &ci); err != nil {
		return nil, err
	}
	fsys := env.Host.FS()
	var out []findings.Finding
	var errs []error

	dockerRoot := defaultDockerRoot
	var listens []dockerListen
	tlsVerify := false
	for _, f := range ci.DaemonFiles {
		b, err := readContainerFile(fsys, f)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		dc, err := ParseDockerDaemonJSON(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		if dc.DataRoot != "" && strings.HasPrefix(dc.DataRoot, "/") {
			dockerRoot = path.Clean(dc.DataRoot)
		}
		tlsVerify = tlsVerify || dc.TLSVerify
		for _, h := range dc.Hosts {
			listens = append(listens, dockerListen{addr: h, file: f, line: lineContaining(b, h)})
		}
	}
	for _, f := range ci.EnvFiles {
		b, err := readContainerFile(fsys, f)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		ls, tv := dockerEnvFileListens(f, b)
		listens = append(listens, ls...)
		tlsVerify = tlsVerify || tv
	}
	units := append([]string{}, ci.UnitFiles...)
	for _, d := range ci.UnitDropinDirs {
		es, err := fsys.ReadDir(d)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		for _, e := range es {
			if strings.HasSuffix(e.Name(), ".conf") {
				units = append(units, path.Join(d, e.Name()))
			}
		}
	}
	for _, f := range units {
		b, err := readContainerFile(fsys, f)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		ls, tv := dockerUnitListens(f, b)
		listens = append(listens, ls...)
		tlsVerify = tlsVerify || tv
	}
	if !tlsVerify {
		out = append(out, dockerListenFindings(listens)...)
	}

	var specs []ContainerSpec
	add := func(s []ContainerSpec, err error) {
		specs = append(specs, s...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(dockerContainers(fsys, dockerRoot))
	for _, store := range podmanStores(fsys) {
		add(podmanContainers(fsys, store))
	}
	add(staticPods(fsys, "/etc/kubernetes/manifests"))
	kw := make([]string, 0, len(ci.ImageKeywords))
	for _, k := range ci.ImageKeywords {
		kw = append(kw, strings.ToLower(k.Keyword))
	}
	for i := range specs {
		if f, ok := minerContainerFinding(env.Intel, kw, &specs[i]); ok {
			out = append(out, f)
		}
	}
	return out, errors.Join(dropPermissionErrors(env, errs)...)
}

// dropPermissionErrors removes "permission denied" errors when minerguard
// runs unprivileged: /var/lib/docker and other users' homes are closed to
// it by design, which is no fault of the host. They are logged instead.
// Run as root, they stay errors: then something unusual blocks the read.
func dropPermissionErrors(env *Env, errs []error) []error {
	if os.Geteuid() == 0 {
		return errs
	}
	var out []error
	for _, err := range errs {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			out = append(out, dropPermissionErrors(env, j.Unwrap())...)
			continue
		}
		if errors.Is(err, fs.ErrPermission) {
			env.Log.Info("containers.config: not readable without root", "err", err)
			continue
		}
		out = append(out, err)
	}
	return out
}

// readContainerFile reads a regular host file of at most maxContainerFile
// bytes; FIFOs and devices are refused (reading one could block the scan).
func readContainerFile(fsys host.FS, name string) ([]byte, error) {
	st, err := fsys.Stat(name)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", name, fileKind(st.Mode()))
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxContainerFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxContainerFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxContainerFile)
	}
	return b, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// --- Docker daemon listen addresses ---

// DockerDaemonConfig is what containers.config uses of /etc/docker/daemon.json.
type DockerDaemonConfig struct {
	Hosts     []string
	TLSVerify bool
	DataRoot  string
}

// ParseDockerDaemonJSON decodes daemon.json; unknown keys are fine (the
// file has dozens), wrong types of the keys used are errors naming the key.
func ParseDockerDaemonJSON(b []byte) (DockerDaemonConfig, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return DockerDaemonConfig{}, fmt.Errorf("daemon.json: %w", err)
	}
	var c DockerDaemonConfig
	if v, ok := raw["hosts"]; ok {
		if err := json.Unmarshal(v, &c.Hosts); err != nil {
			// dockerd also accepts one string.
			var s string
			if json.Unmarshal(v, &s) != nil {
				return c, fmt.Errorf("daemon.json field hosts: want a list of strings")
			}
			c.Hosts = []string{s}
		}
	}
	if v, ok := raw["tlsverify"]; ok {
		if err := json.Unmarshal(v, &c.TLSVerify); err != nil {
			return c, fmt.Errorf("daemon.json field tlsverify: want true or false")
		}
	}
	for _, k := range []string{"data-root", "graph"} {
		if v, ok := raw[k]; ok && c.DataRoot == "" {
			if err := json.Unmarshal(v, &c.DataRoot); err != nil {
				return c, fmt.Errorf("daemon.json field %s: want a string", k)
			}
		}
	}
	return c, nil
}

// dockerListen is one -H/hosts/ListenStream value and where it was set.
type dockerListen struct {
	addr    string
	file    string
	line    int
	content string
}

// DockerdFlags returns the -H/--host values and whether --tlsverify is on
// in a dockerd argv (or DOCKER_OPTS words).
func DockerdFlags(args []string) (hosts []string, tlsVerify bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-H" || a == "--host":
			if i+1 < len(args) {
				hosts = append(hosts, args[i+1])
				i++
			}
		case strings.HasPrefix(a, "--host="):
			hosts = append(hosts, a[len("--host="):])
		case strings.HasPrefix(a, "-H="):
			hosts = append(hosts, a[3:])
		case strings.HasPrefix(a, "-H") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			hosts = append(hosts, a[2:])
		case a == "--tlsverify" || a == "--tlsverify=true" || a == "--tlsverify=1":
			tlsVerify = true
		}
	}
	return hosts, tlsVerify
}

// dockerEnvFileListens reads KEY="dockerd options" lines of
// /etc/default/docker-style files.
func dockerEnvFileListens(file string, b []byte) ([]dockerListen, bool) {
	var out []dockerListen
	tls := false
	for i, line := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "export "))
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		words := ShellWords(v)
		if k == "DOCKER_TLS_VERIFY" && len(words) == 1 && words[0] != "" && words[0] != "0" {
			tls = true
			continue
		}
		if len(words) == 1 {
			words = ShellWords(words[0]) // KEY="-H tcp://... --tlsverify"
		}
		hosts, tv := DockerdFlags(words)
		tls = tls || tv
		for _, h := range hosts {
			out = append(out, dockerListen{addr: h, file: file, line: i + 1, content: line})
		}
	}
	return out, tls
}

// dockerUnitListens reads ExecStart (dockerd flags), ListenStream
// (docker.socket) and Environment=DOCKER_TLS_VERIFY of a unit or drop-in.
func dockerUnitListens(file string, b []byte) ([]dockerListen, bool) {
	var out []dockerListen
	tls := false
	for _, d := range ParseUnitDirectives(b) {
		switch d.Key {
		case "ExecStart":
			words := ShellWords(d.Value)
			if len(words) == 0 || !strings.HasPrefix(path.Base(strings.TrimLeft(words[0], "-@:+!")), "dockerd") {
				continue
			}
			hosts, tv := DockerdFlags(words[1:])
			tls = tls || tv
			for _, h := range hosts {
				out = append(out, dockerListen{addr: h, file: file, line: d.Line, content: d.Raw})
			}
		case "ListenStream":
			v := strings.TrimSpace(d.Value)
			if v == "" || strings.HasPrefix(v, "/") || strings.HasPrefix(v, "@") {
				continue // a unix socket (or a reset)
			}
			out = append(out, dockerListen{addr: "tcp://" + v, file: file, line: d.Line, content: d.Raw})
		case "Environment":
			for _, w := range ShellWords(d.Value) {
				if k, v, _ := strings.Cut(w, "="); k == "DOCKER_TLS_VERIFY" && v != "" && v != "0" {
					tls = true
				}
			}
		}
	}
	return out, tls
}

// UnitDirective is one Key=Value line of a systemd unit file, with
// backslash continuations joined.
type UnitDirective struct {
	Section, Key, Value, Raw string
	Line                     int
}

// ParseUnitDirectives splits a systemd unit file into directives.
func ParseUnitDirectives(b []byte) []UnitDirective {
	var out []UnitDirective
	lines := strings.Split(string(b), "\n")
	section := ""
	for i := 0; i < len(lines); i++ {
		start := i
		l := strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		if l[0] == '[' {
			section = strings.Trim(l, "[]")
			continue
		}
		raw := l
		for strings.HasSuffix(l, `\`) && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			l = strings.TrimSuffix(l, `\`) + " " + next
			raw += " " + next
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		out = append(out, UnitDirective{Section: section, Key: strings.TrimSpace(k), Value: strings.TrimSpace(v), Raw: raw, Line: start + 1})
	}
	return out
}

// ShellWords splits s into words the way sh does for simple commands:
// whitespace separates, single and double quotes group, backslash escapes.
// Expansions are left as written. It never fails: an unterminated quote
// runs to the end.
func ShellWords(s string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0 {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
				inWord = true
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// DockerTCPScope classifies a dockerd listen address: "" for unix/fd
// sockets, "loopback" for 127.0.0.0/8, ::1 and localhost, "network"
// otherwise (all interfaces, or an address others can reach).
func DockerTCPScope(addr string) (scope, hostPort string) {
	a := strings.TrimSpace(addr)
	rest, ok := strings.CutPrefix(strings.ToLower(a), "tcp://")
	if !ok {
		if strings.Contains(a, "://") || strings.HasPrefix(a, "/") || a == "" {
			return "", ""
		}
		rest = a // dockerd treats a bare host:port as tcp
	}
	rest, _, _ = strings.Cut(rest, "/")
	h := rest
	if strings.HasPrefix(h, "[") {
		if j := strings.IndexByte(h, ']'); j > 0 {
			h = h[1:j]
		}
	} else if j := strings.LastIndexByte(h, ':'); j >= 0 && strings.Count(h, ":") == 1 {
		h = h[:j]
	} else if _, err := strconv.Atoi(h); err == nil {
		h = "" // ListenStream=2375: every interface
	}
	if h == "localhost" {
		return "loopback", rest
	}
	if ip, err := netip.ParseAddr(h); err == nil && ip.IsLoopback() {
		return "loopback", rest
	}
	return "network", rest
}

func dockerListenFindings(ls []dockerListen) []findings.Finding {
	var out []findings.Finding
	seen := map[string]bool{}
	for _, l := range ls {
		scope, hp := DockerTCPScope(l.addr)
		if scope == "" || seen[l.file+"\x00"+hp] {
			continue
		}
		seen[l.file+"\x00"+hp] = true
		ev := findings.Evidence{
			Path:    l.file,
			Line:    l.line,
			Content: Printable(l.content, 1024),
			Match:   []string{Printable(l.addr, 256)},
			Details: map[string]string{"listen": Printable(hp, 256)},
		}
		if ev.Content == "" && l.line > 0 {
			ev.Content = Printable(l.addr, 256)
		}
		if scope == "loopback" {
			out = append(out, findings.Finding{
				Rule: "containers.config.docker_tcp_local", Severity: findings.Low, Signal: findings.SignalHardening, Confidence: 0.8,
				Title:       fmt.Sprintf("Docker API listens on %s without TLS", Printable(hp, 128)),
				Description: "dockerd accepts unauthenticated API calls on a loopback TCP port: any local user (or a server-side request forgery in a local web app) can start privileged containers, which is root on this host.",
				Evidence:    ev, Remediation: dockerAPIRemediation,
			})
			continue
		}
		out = append(out, findings.Finding{
			Rule: "containers.config.docker_tcp", Severity: findings.High, Signal: findings.SignalHardening, Confidence: 0.9,
			Title:       fmt.Sprintf("Docker API exposed on %s without TLS client verification", Printable(hp, 128)),
			Description: "dockerd accepts API calls on a network TCP address without tlsverify: anyone who can reach the port can run privileged containers (root on this host). Scanners look for this port constantly; it is one of the commonest ways mining malware gets in.",
			Evidence:    ev, Remediation: dockerAPIRemediation,
		})
	}
	return out
}

// lineContaining returns the 1-based line of the first occurrence of s in
// b (0 when absent), for evidence pointing into JSON files.
func lineContaining(b []byte, s string) int {
	i := strings.Index(string(b), s)
	if i < 0 || s == "" {
		return 0
	}
	return strings.Count(string(b[:i]), "\n") + 1
}

// --- stored container configurations ---

// ContainerSpec is what a runtime stored about one container.
type ContainerSpec struct {
	Runtime string // docker, podman, kubernetes
	ID      string
	Name    string
	Image   string
	Argv    []string
	Env     []string
	// Path is the host file the spec was read from.
	Path string
}

// strList accepts a JSON list of strings, one string or null (Docker's
// strslice does the same for Cmd and Entrypoint).
type strList []string

func (s *strList) UnmarshalJSON(b []byte) error {
	var l []string
	if err := json.Unmarshal(b, &l); err == nil {
		*s = l
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*s = strList{one}
	return nil
}

// ParseDockerContainer decodes /var/lib/docker/containers/ID/config.v2.json.
func ParseDockerContainer(b []byte) (ContainerSpec, error) {
	var c struct {
		ID     string  `json:"ID"`
		Name   string  `json:"Name"`
		Path   string  `json:"Path"`
		Args   strList `json:"Args"`
		Config *struct {
			Image      string  `json:"Image"`
			Cmd        strList `json:"Cmd"`
			Entrypoint strList `json:"Entrypoint"`
			Env        strList `json:"Env"`
		} `json:"Config"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return ContainerSpec{}, fmt.Errorf("config.v2.json: %w", err)
	}
	s := ContainerSpec{Runtime: "docker", ID: c.ID, Name: strings.TrimPrefix(c.Name, "/")}
	// Path+Args is what was executed; Entrypoint+Cmd what the image and
	// run options asked for. They agree unless one is missing.
	if c.Path != "" {
		s.Argv = append([]string{c.Path}, c.Args...)
	}
	if c.Config != nil {
		s.Image = c.Config.Image
		s.Env = c.Config.Env
		if len(s.Argv) == 0 {
			s.Argv = append(append([]string{}, c.Config.Entrypoint...), c.Config.Cmd...)
		}
	}
	return s, nil
}

func dockerContainers(fsys host.FS, root string) ([]ContainerSpec, error) {
	dir := path.Join(root, "containers")
	es, err := fsys.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []ContainerSpec
	var errs []error
	for i, e := range es {
		if i >= maxContainers {
			errs = append(errs, fmt.Errorf("%s: more than %d containers; the rest were not read", dir, maxContainers))
			break
		}
		if !e.IsDir() {
			continue
		}
		f := path.Join(dir, e.Name(), "config.v2.json")
		b, err := readContainerFile(fsys, f)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		s, err := ParseDockerContainer(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		if s.ID == "" {
			s.ID = e.Name()
		}
		s.Path = f
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// podmanStores lists container storage roots: the system one and each
// user's rootless one.
func podmanStores(fsys host.FS) []string {
	stores := []string{"/var/lib/containers/storage", "/root/.local/share/containers/storage"}
	if es, err := fsys.ReadDir("/home"); err == nil {
		for _, e := range es {
			stores = append(stores, path.Join("/home", e.Name(), ".local/share/containers/storage"))
		}
	}
	return stores
}

// ParsePodmanContainers decodes containers/storage's
// overlay-containers/containers.json (ids, names, image names).
func ParsePodmanContainers(b []byte) ([]ContainerSpec, error) {
	var cs []struct {
		ID       string   `json:"id"`
		Names    []string `json:"names"`
		Image    string   `json:"image"`
		Metadata string   `json:"metadata"`
	}
	if err := json.Unmarshal(b, &cs); err != nil {
		return nil, fmt.Errorf("containers.json: %w", err)
	}
	out := make([]ContainerSpec, 0, len(cs))
	for _, c := range cs {
		s := ContainerSpec{Runtime: "podman", ID: c.ID, Image: c.Image}
		if len(c.Names) > 0 {
			s.Name = c.Names[0]
		}
		var md struct {
			ImageName string `json:"image-name"`
			Name      string `json:"name"`
		}
		if c.Metadata != "" && json.Unmarshal([]byte(c.Metadata), &md) == nil {
			if md.ImageName != "" {
				s.Image = md.ImageName
			}
			if s.Name == "" {
				s.Name = md.Name
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// ParseOCIProcess decodes the process args and env of an OCI runtime
// config.json (podman keeps one per container in userdata/).
func ParseOCIProcess(b []byte) (argv, env []string, err error) {
	var c struct {
		Process *struct {
			Args strList `json:"args"`
			Env  strList `json:"env"`
		} `json:"process"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, nil, fmt.Errorf("config.json: %w", err)
	}
	if c.Process == nil {
		return nil, nil, nil
	}
	return c.Process.Args, c.Process.Env, nil
}

func podmanContainers(fsys host.FS, store string) ([]ContainerSpec, error) {
	f := path.Join(store, "overlay-containers/containers.json")
	b, err := readContainerFile(fsys, f)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	specs, err := ParsePodmanContainers(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	if len(specs) > maxContainers {
		specs = specs[:maxContainers]
	}
	var errs []error
	for i := range specs {
		specs[i].Path = f
		if specs[i].ID == "" || strings.ContainsAny(specs[i].ID, "/\x00") || specs[i].ID == ".." {
			continue
		}
		cf := path.Join(store, "overlay-containers", specs[i].ID, "userdata/config.json")
		cb, err := readContainerFile(fsys, cf)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		argv, env, err := ParseOCIProcess(cb)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cf, err))
			continue
		}
		specs[i].Argv, specs[i].Env, specs[i].Path = argv, env, cf
	}
	return specs, errors.Join(errs...)
}

func staticPods(fsys host.FS, dir string) ([]ContainerSpec, error) {
	es, err := fsys.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []ContainerSpec
	var errs []error
	for _, e := range es {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") {
			continue // kubelet ignores dot files too
		}
		f := path.Join(dir, n)
		b, err := readContainerFile(fsys, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var specs []ContainerSpec
		if strings.HasSuffix(n, ".json") {
			specs, err = ParsePodJSON(b)
		} else {
			specs = ParsePodYAML(b)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		for i := range specs {
			specs[i].Path = f
		}
		out = append(out, specs...)
	}
	return out, errors.Join(errs...)
}

// ParsePodJSON reads a JSON pod manifest's containers.
func ParsePodJSON(b []byte) ([]ContainerSpec, error) {
	type ctr struct {
		Name    string  `json:"name"`
		Image   string  `json:"image"`
		Command strList `json:"command"`
		Args    strList `json:"args"`
		Env     []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"env"`
	}
	var p struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Containers     []ctr `json:"containers"`
			InitContainers []ctr `json:"initContainers"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("pod manifest: %w", err)
	}
	var out []ContainerSpec
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		s := ContainerSpec{Runtime: "kubernetes", Name: podContainerName(p.Metadata.Name, c.Name), Image: c.Image,
			Argv: append(append([]string{}, c.Command...), c.Args...)}
		for _, e := range c.Env {
			s.Env = append(s.Env, e.Name+"="+e.Value)
		}
		out = append(out, s)
	}
	return out, nil
}

func podContainerName(pod, ctr string) string {
	if pod == "" {
		return ctr
	}
	return pod + "/" + ctr
}

// ParsePodYAML reads the containers of a YAML pod manifest (possibly
// several documents). It is not a YAML parser: it understands the block
// layout kubeadm and people write for static pods — metadata.name, and
// under containers/initContainers each item's name, image, command and
// args (block or flow lists, block scalars) and env name/value pairs —
// which is all the check needs, without a YAML dependency.
func ParsePodYAML(b []byte) []ContainerSpec {
	var out []ContainerSpec
	lines := strings.Split(string(b), "\n")
	pod := ""
	inMeta := false
	ctrIndent := -1  // indent of the "containers:" key; -1 outside
	itemIndent := -1 // indent of the "- " that starts each container
	var cur *ContainerSpec
	var curName string
	var cmd, args []string
	listKey := "" // "command", "args" or "env" while reading their items
	listIndent := -1
	flush := func() {
		if cur != nil {
			cur.Name = podContainerName(pod, curName)
			cur.Argv = append(append([]string{}, cmd...), args...)
			out = append(out, *cur)
		}
		cur, curName, cmd, args, listKey = nil, "", nil, nil, ""
	}
	for i := 0; i < len(lines); i++ {
		raw := strings.TrimRight(lines[i], " \t\r")
		content := strings.TrimLeft(raw, " ")
		indent := len(raw) - len(content)
		if content == "" || content[0] == '#' {
			continue
		}
		if content == "---" || strings.HasPrefix(content, "--- ") {
			flush()
			pod, inMeta, ctrIndent, itemIndent = "", false, -1, -1
			continue
		}
		if indent == 0 {
			inMeta = strings.HasPrefix(content, "metadata:")
		} else if inMeta && pod == "" && strings.HasPrefix(content, "name:") {
			pod = yamlScalar(strings.TrimPrefix(content, "name:"))
		}
		if ctrIndent >= 0 && (indent < ctrIndent || (indent == ctrIndent && !strings.HasPrefix(content, "- "))) {
			flush()
			ctrIndent, itemIndent = -1, -1
		}
		if k := yamlKey(content); k == "containers" || k == "initContainers" || k == "ephemeralContainers" {
			flush()
			ctrIndent, itemIndent = indent, -1
			continue
		}
		if ctrIndent < 0 {
			continue
		}
		item := strings.HasPrefix(content, "- ") || content == "-"
		if item && (itemIndent < 0 || indent == itemIndent) {
			flush()
			itemIndent = indent
			cur = &ContainerSpec{Runtime: "kubernetes"}
			content = strings.TrimLeft(strings.TrimPrefix(content, "-"), " ")
			indent = itemIndent + 2
			if content == "" {
				continue
			}
			item = false
		}
		if cur == nil {
			continue
		}
		if listKey != "" && indent >= listIndent && item {
			v := strings.TrimLeft(strings.TrimPrefix(content, "-"), " ")
			if strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
				var blk []string
				i, blk = yamlBlock(lines, i+1, indent)
				v = strings.Join(blk, "\n")
			} else {
				v = yamlScalar(v)
			}
			switch listKey {
			case "command":
				cmd = append(cmd, v)
			case "args":
				args = append(args, v)
			case "env":
				if k := yamlKey(strings.TrimLeft(strings.TrimPrefix(content, "-"), " ")); k == "name" {
					cur.Env = append(cur.Env, yamlScalar(yamlValue(strings.TrimLeft(strings.TrimPrefix(content, "-"), " ")))+"=")
				}
			}
			continue
		}
		if listKey == "env" && indent > listIndent && yamlKey(content) == "value" && len(cur.Env) > 0 {
			cur.Env[len(cur.Env)-1] += yamlScalar(yamlValue(content))
			continue
		}
		if indent != itemIndent+2 {
			continue // nested maps (resources, volumeMounts, ...)
		}
		listKey = ""
		key := yamlKey(content)
		val := yamlValue(content)
		switch key {
		case "name":
			curName = yamlScalar(val)
		case "image":
			cur.Image = yamlScalar(val)
		case "command", "args", "env":
			switch {
			case strings.HasPrefix(val, "["):
				l := yamlFlowList(val)
				if key == "command" {
					cmd = l
				} else if key == "args" {
					args = l
				}
			case val == "":
				listKey, listIndent = key, indent
			}
		}
	}
	flush()
	return out
}

// yamlKey returns the key of a "key: value" line ("" if none).
func yamlKey(s string) string {
	k, _, ok := strings.Cut(s, ":")
	if !ok || strings.ContainsAny(k, " \"'[{") {
		return ""
	}
	return k
}

func yamlValue(s string) string {
	_, v, _ := strings.Cut(s, ":")
	return strings.TrimSpace(v)
}

// yamlScalar unquotes a plain, single- or double-quoted scalar and drops a
// trailing comment.
func yamlScalar(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' {
		if u, err := strconv.Unquote(s[:strings.LastIndexByte(s, '"')+1]); err == nil {
			return u
		}
		return strings.Trim(s, `"`)
	}
	if len(s) >= 2 && s[0] == '\'' {
		if j := strings.LastIndexByte(s, '\''); j > 0 {
			return strings.ReplaceAll(s[1:j], "''", "'")
		}
	}
	if j := strings.Index(s, " #"); j >= 0 {
		s = strings.TrimSpace(s[:j])
	}
	return s
}

// yamlFlowList reads ["a", "b", c] on one line.
func yamlFlowList(s string) []string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "[")
	if j := strings.LastIndexByte(s, ']'); j >= 0 {
		s = s[:j]
	}
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
			cur.WriteByte(c)
		case c == ',':
			out = append(out, yamlScalar(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, yamlScalar(cur.String()))
	}
	return out
}

// yamlBlock collects a block scalar's lines (more indented than parent)
// from lines[i:], returning the index of its last line.
func yamlBlock(lines []string, i, parent int) (int, []string) {
	var blk []string
	for ; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t\r")
		c := strings.TrimLeft(l, " ")
		if c != "" && len(l)-len(c) <= parent {
			break
		}
		blk = append(blk, c)
	}
	return i - 1, blk
}

// --- miner detection ---

// imageRepoName returns the last path component of an image reference
// without tag or digest ("docker.io/xmrig/xmrig:6.21@sha256:.." -> "xmrig").
func imageRepoName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	base := path.Base(ref)
	if j := strings.LastIndexByte(base, ':'); j > 0 {
		base = base[:j]
	}
	return base
}

func minerProgram(db *intel.DB, name string) (*intel.Program, bool) {
	p, ok := db.Program(name)
	if !ok || (p.Kind != "miner" && p.Kind != "malware") {
		return nil, false
	}
	return p, true
}

// scriptWords returns the command words of an "sh -c SCRIPT" argv, so a
// miner started by the container's shell is seen.
func scriptWords(argv []string) []string {
	var out []string
	for i, a := range argv {
		if i > 0 && argv[i-1] == "-c" || strings.ContainsAny(a, " ;&|") {
			out = append(out, strings.FieldsFunc(a, func(r rune) bool { return strings.ContainsRune(" \t\n;&|()`$", r) })...)
		}
	}
	return out
}

// minerContainerFinding judges one container: its image name, the program
// it runs, pool URLs and miner flags on its command line and in its
// environment, and wallet addresses.
func minerContainerFinding(db *intel.DB, keywords []string, s *ContainerSpec) (findings.Finding, bool) {
	var match []string
	named, family := false, ""
	img := strings.ToLower(s.Image)
	if s.Image != "" {
		if p, ok := minerProgram(db, imageRepoName(img)); ok {
			named, family = true, p.Name
			match = append(match, "image "+Printable(s.Image, 256))
		} else {
			for _, k := range keywords {
				if k != "" && strings.Contains(img, k) {
					named = true
					match = append(match, "image "+Printable(s.Image, 256))
					break
				}
			}
		}
	}
	progWords := scriptWords(s.Argv)
	if len(s.Argv) > 0 {
		progWords = append([]string{s.Argv[0]}, progWords...)
	}
	for _, w := range progWords {
		if p, ok := minerProgram(db, w); ok {
			named = true
			if family == "" {
				family = p.Name
			}
			match = append(match, "runs "+Printable(w, 256))
			break
		}
	}
	args := minercfg.PoolsFromArgs(s.Argv, db)
	var pool *minercfg.PoolURL
	for i, u := range args.URLs {
		if _, known := db.Domain(u.Host); u.Stratum || (known && !u.IsIP()) {
			pool = &args.URLs[i]
			match = append(match, "pool "+Printable(u.URL, 256))
			break
		}
	}
	strong, _ := idMinerFlags(s.Argv, db)
	if len(strong) > 0 {
		named = true
		match = append(match, "flags "+strings.Join(idFlagMatches(strong), " "))
	}
	envPool := ""
	for _, e := range s.Env {
		if _, ok := db.StratumURL(e); ok {
			envPool = e
			match = append(match, "env "+Printable(e, 256))
			break
		}
	}
	wallets := db.FindWallets(strings.Join(append(append([]string{}, s.Argv...), s.Env...), " "))
	strongWallet := ""
	for _, w := range wallets {
		if w.Strength == "strong" {
			strongWallet = w.Address
			match = append(match, "wallet "+w.Address)
			break
		}
	}
	hasPool := pool != nil || envPool != ""
	if !named && !hasPool && strongWallet == "" {
		return findings.Finding{}, false
	}
	sev, conf := findings.High, 0.85
	if named && (hasPool || strongWallet != "") || hasPool && strongWallet != "" {
		sev, conf = findings.Critical, 0.97
	}
	label := s.Name
	if label == "" {
		label = shortID(s.ID)
	}
	ev := findings.Evidence{
		Path:      s.Path,
		Container: s.ID,
		Cmdline:   Printable(strings.Join(s.Argv, " "), 4096),
		Match:     match,
		Family:    family,
		Wallet:    strongWallet,
		Details:   map[string]string{"runtime": s.Runtime},
	}
	if ev.Container == "" {
		ev.Container = s.Name
	}
	if s.Name != "" {
		ev.Details["container_name"] = Printable(s.Name, 256)
	}
	if s.Image != "" {
		ev.Details["image"] = Printable(s.Image, 256)
	}
	if pool != nil {
		idSetPoolURL(&ev, *pool)
	}
	sort.Strings(ev.Match)
	return findings.Finding{
		Rule: "containers.config.miner", Severity: sev, Signal: findings.SignalIdentity, Confidence: conf,
		Title:       fmt.Sprintf("%s container %s is set up to mine cryptocurrency", s.Runtime, Printable(label, 128)),
		Description: fmt.Sprintf("The stored container configuration shows %s. Attackers who reach a Docker or Kubernetes API start exactly such containers.", strings.Join(match, "; ")),
		Evidence:    ev, Remediation: minerContainerRemediation,
	}, true
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
