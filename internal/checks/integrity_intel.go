package checks

import (
	"fmt"
	"strings"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/intel"
)

// integrityIntel is intel/data/integrity.json, shared by the integrity.*
// checks.
type integrityIntel struct {
	Comment  string `json:"_comment"`
	Packages struct {
		VerifyDirs   []string `json:"verify_dirs"`
		ExecDirs     []string `json:"exec_dirs"`
		AdminDirs    []string `json:"admin_dirs"`
		SkipSuffixes []string `json:"skip_suffixes"`
		// ExpectedUnowned are files image builders add outside packages.
		ExpectedUnowned []string `json:"expected_unowned"`
		WrappedTools    []string `json:"wrapped_tools"`
		FilterPatterns  []string `json:"filter_patterns"`
		Downloaders     []string `json:"downloaders"`
		CopyDirs        []string `json:"copy_dirs"`
	} `json:"packages"`
	Hosts struct {
		Protected        []string `json:"protected"`
		PublicResolvers  []string `json:"public_resolvers"`
		GeneratedMarkers []string `json:"generated_markers"`
		GeneratedTargets []string `json:"generated_targets"`
	} `json:"hosts"`
	Attributes struct {
		Paths []struct {
			Glob     string            `json:"glob"`
			Severity findings.Severity `json:"severity"`
		} `json:"paths"`
	} `json:"attributes"`
}

// loadIntegrityIntel reads and sanity-checks the integrity section.
func loadIntegrityIntel(db *intel.DB) (*integrityIntel, error) {
	var v integrityIntel
	if err := db.Section("integrity", &v); err != nil {
		return nil, err
	}
	for _, lists := range [][]string{v.Packages.VerifyDirs, v.Packages.ExecDirs, v.Packages.AdminDirs, v.Packages.Downloaders, v.Packages.CopyDirs, v.Packages.ExpectedUnowned} {
		for _, p := range lists {
			if !strings.HasPrefix(p, "/") {
				return nil, fmt.Errorf("intel integrity.json: packages: %q is not an absolute path", p)
			}
		}
	}
	for i, p := range v.Attributes.Paths {
		if !strings.HasPrefix(p.Glob, "/") {
			return nil, fmt.Errorf("intel integrity.json: attributes.paths[%d]: %q is not an absolute path", i, p.Glob)
		}
	}
	return &v, nil
}
