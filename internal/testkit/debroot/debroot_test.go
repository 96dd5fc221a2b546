package debroot

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMirror(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"deb822", "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n", "http://deb.debian.org/debian"},
		{"deb822 security first", "URIs: http://deb.debian.org/debian-security\n\nURIs: http://mirror.example/debian/\n", "http://mirror.example/debian"},
		{"one-line", "# c\ndeb http://ftp.example.org/debian bookworm main\n", "http://ftp.example.org/debian"},
		{"one-line options", "deb [arch=amd64 signed-by=/k.gpg] https://m.example/debian bookworm main\n", "https://m.example/debian"},
		{"only security", "deb http://security.debian.org/debian-security bookworm-security main\n", ""},
		{"cdrom", "deb cdrom:[Debian]/ bookworm main\n", ""},
		{"unterminated options", "deb [arch=amd64\n", ""},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ParseMirror(bufio.NewScanner(strings.NewReader(c.in))); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestDirEnv(t *testing.T) {
	t.Setenv("MINERGUARD_DEBROOT", "/x/y")
	if Dir() != "/x/y" {
		t.Fatal(Dir())
	}
	t.Setenv("MINERGUARD_DEBROOT", "")
	if Dir() != DefaultDir {
		t.Fatal(Dir())
	}
}

// TestEnsure builds (or finds) the tree and checks it is a Debian system.
func TestEnsure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Debian tree")
	}
	dir := Ensure(t)
	b, err := os.ReadFile(filepath.Join(dir, "etc/debian_version"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "12.") {
		t.Fatalf("etc/debian_version = %q, want bookworm (12.x)", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "usr/bin/apt-get")); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseMirror(f *testing.F) {
	f.Add("deb [a=b] http://x/debian bookworm main\nURIs: https://y/\n")
	f.Add("deb [\n")
	f.Fuzz(func(t *testing.T, s string) {
		ParseMirror(bufio.NewScanner(strings.NewReader(s)))
	})
}
