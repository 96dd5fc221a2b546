package report

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/host"
	"github.com/minerguard/minerguard/internal/scan"
)

const schemaURL = "https://github.com/minerguard/minerguard/docs/findings.schema.json"

// compileSchema loads docs/findings.schema.json; the compiler checks it
// against the 2020-12 meta-schema, and formats (date-time) are asserted.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "findings.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

// validate renders rep with the real JSON writer and validates the bytes.
func validate(t *testing.T, sch *jsonschema.Schema, rep *findings.Report) error {
	t.Helper()
	var buf bytes.Buffer
	if err := JSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	return validateBytes(t, sch, buf.Bytes())
}

func validateBytes(t *testing.T, sch *jsonschema.Schema, b []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	return sch.Validate(inst)
}

func TestSchemaAcceptsGoldenReport(t *testing.T) {
	sch := compileSchema(t)
	if err := validate(t, sch, sampleReport()); err != nil {
		t.Fatalf("sample report: %v", err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "report.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validateBytes(t, sch, b); err != nil {
		t.Fatalf("golden report: %v", err)
	}
}

// The schema must be able to fail: each mutation breaks one documented rule.
func TestSchemaRejects(t *testing.T) {
	sch := compileSchema(t)
	var base map[string]any
	var buf bytes.Buffer
	if err := JSON(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(r map[string]any)
	}{
		{"unknown severity", func(r map[string]any) { finding(r)["severity"] = "severe" }},
		{"severity as number", func(r map[string]any) { finding(r)["severity"] = 3 }},
		{"unknown signal", func(r map[string]any) { finding(r)["signal"] = "vibes" }},
		{"missing rule", func(r map[string]any) { delete(finding(r), "rule") }},
		{"bad rule id", func(r map[string]any) { finding(r)["rule"] = "Process Name" }},
		{"confidence above 1", func(r map[string]any) { finding(r)["confidence"] = 1.5 }},
		{"unknown finding field", func(r map[string]any) { finding(r)["score"] = 1 }},
		{"unknown evidence field", func(r map[string]any) { finding(r)["evidence"].(map[string]any)["pidd"] = 1 }},
		{"remote without port", func(r map[string]any) { finding(r)["evidence"].(map[string]any)["remote"] = "127.0.0.1" }},
		{"pid zero", func(r map[string]any) { finding(r)["evidence"].(map[string]any)["pid"] = 0 }},
		{"pid as string", func(r map[string]any) { finding(r)["evidence"].(map[string]any)["pid"] = "4242" }},
		{"relative path", func(r map[string]any) { finding(r)["evidence"].(map[string]any)["path"] = "etc/passwd" }},
		{"details not strings", func(r map[string]any) { finding(r)["evidence"].(map[string]any)["details"] = map[string]any{"n": 1} }},
		{"bad incident id", func(r map[string]any) { finding(r)["incident"] = "incident-1" }},
		{"incident without findings", func(r map[string]any) { r["incidents"].([]any)[0].(map[string]any)["findings"] = []any{} }},
		{"schema 2", func(r map[string]any) { r["schema"] = 2 }},
		{"findings null", func(r map[string]any) { r["findings"] = nil }},
		{"missing summary", func(r map[string]any) { delete(r, "summary") }},
		{"bad started time", func(r map[string]any) { r["started"] = "yesterday" }},
		{"skipped check without reason", func(r map[string]any) { delete(r["checks"].([]any)[0].(map[string]any), "reason") }},
		{"unknown check status", func(r map[string]any) { r["checks"].([]any)[0].(map[string]any)["status"] = "maybe" }},
		{"summary count for unknown severity", func(r map[string]any) {
			r["summary"].(map[string]any)["findings"] = map[string]any{"severe": 1}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := json.Unmarshal(buf.Bytes(), &base); err != nil {
				t.Fatal(err)
			}
			tc.mutate(base)
			b, err := json.Marshal(base)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateBytes(t, sch, b); err == nil {
				t.Fatalf("mutated report validated:\n%s", b)
			}
		})
	}
}

func finding(r map[string]any) map[string]any { return r["findings"].([]any)[0].(map[string]any) }

// An offline root (no process table) writes a report with skipped checks.
func TestSchemaOfflineScan(t *testing.T) {
	sch := compileSchema(t)
	root := t.TempDir()
	for name, content := range map[string]string{
		"etc/hostname":   "offline-box\n",
		"etc/passwd":     "root:x:0:0:root:/root:/bin/bash\n",
		"etc/machine-id": "0123456789abcdef0123456789abcdef\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := host.Offline(root)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := scan.Run(context.Background(), h, scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Host.Live {
		t.Fatal("offline scan reports a live host")
	}
	if err := validate(t, sch, rep); err != nil {
		t.Fatalf("offline scan report: %v", err)
	}
}
