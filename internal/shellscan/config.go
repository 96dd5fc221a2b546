package shellscan

import (
	"fmt"
	"strings"

	"github.com/minerguard/minerguard/internal/intel"
)

// Config is intel/data/persistence.json.
type Config struct {
	Comment        string    `json:"comment"`
	Shells         []string  `json:"shells"`
	Interpreters   []string  `json:"interpreters"`
	Downloaders    []string  `json:"downloaders"`
	Wrappers       []string  `json:"wrappers"`
	FetchMarkers   []string  `json:"fetch_markers"`
	ExecMarkers    []string  `json:"exec_markers"`
	Decoders       []Decoder `json:"decoders"`
	KillCommands   []string  `json:"kill_commands"`
	Competitors    []string  `json:"competitors"`
	AttrCommands   []string  `json:"attr_commands"`
	HiddenDirAllow []string  `json:"hidden_dir_allow"`
}

// Decoder is a command that decodes its input when given one of Flags.
type Decoder struct {
	Command  string   `json:"command"`
	Flags    []string `json:"flags"`
	Encoding string   `json:"encoding"`
}

// LoadConfig reads the "persistence" section of db and checks it.
func LoadConfig(db *intel.DB) (*Config, error) {
	var c Config
	if err := db.Section("persistence", &c); err != nil {
		return nil, err
	}
	lists := map[string][]string{
		"shells": c.Shells, "interpreters": c.Interpreters, "downloaders": c.Downloaders,
		"kill_commands": c.KillCommands, "competitors": c.Competitors, "attr_commands": c.AttrCommands,
	}
	for name, l := range lists {
		if len(l) == 0 {
			return nil, fmt.Errorf("intel persistence.json: %s is empty", name)
		}
		for i, v := range l {
			if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " \t/") && name != "competitors" {
				return nil, fmt.Errorf("intel persistence.json: %s[%d] %q: want a command name", name, i, v)
			}
		}
	}
	for i, d := range c.Decoders {
		switch d.Encoding {
		case "base64", "base32", "hex":
		default:
			return nil, fmt.Errorf("intel persistence.json: decoders[%d] (%s): encoding %q", i, d.Command, d.Encoding)
		}
		if d.Command == "" || len(d.Flags) == 0 {
			return nil, fmt.Errorf("intel persistence.json: decoders[%d]: command and flags are required", i)
		}
	}
	for i, d := range c.HiddenDirAllow {
		if d == "" || strings.HasPrefix(d, "/") || !strings.HasPrefix(d, ".") {
			return nil, fmt.Errorf("intel persistence.json: hidden_dir_allow[%d] %q: want a hidden directory relative to a home directory", i, d)
		}
	}
	return &c, nil
}
