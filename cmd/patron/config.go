package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxConfigBytes bounds a configuration file: a real one is a few hundred
// bytes, so anything near this is a mistake (the wrong file given).
const maxConfigBytes = 1 << 20

// parseFlags parses args into fs, then fills every flag the command line did
// not set from the YAML file named by --config, if any. Keys of the file are
// flag names; a list sets a repeatable flag once per item. An unknown key is
// an error naming the key and its line, so a typo never silently does
// nothing.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	configPath := fs.String("config", "", "optional YAML file of flag values (flags given on the command line win)")
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	if *configPath == "" {
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return applyConfigFile(fs, *configPath, set)
}

// errHelp is returned when -h was asked for: not a failure.
var errHelp = errors.New("help requested")

func applyConfigFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	data, err := readLimited(path, maxConfigBytes)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s: line %d: want a mapping of flag names to values", path, root.Line)
	}
	var problems []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		f := fs.Lookup(key.Value)
		if f == nil || key.Value == "config" {
			problems = append(problems, fmt.Sprintf("line %d: unknown key %q", key.Line, key.Value))
			continue
		}
		if set[key.Value] {
			continue
		}
		values, err := scalarValues(val)
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: key %q: %v", val.Line, key.Value, err))
			continue
		}
		for _, v := range values {
			if err := fs.Set(key.Value, v); err != nil {
				problems = append(problems, fmt.Sprintf("line %d: key %q: %v", val.Line, key.Value, valueError(f, v, err)))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("config %s:\n  %s", path, strings.Join(problems, "\n  "))
	}
	return nil
}

// valueError says what a flag wants when a value does not parse; the
// flag package's own message is only "parse error".
func valueError(f *flag.Flag, v string, err error) error {
	getter, ok := f.Value.(flag.Getter)
	if !ok {
		return err
	}
	switch getter.Get().(type) {
	case time.Duration:
		return fmt.Errorf("%q is not a duration: want a number with a unit, such as 500ms, 15s or 1m", v)
	case bool:
		return fmt.Errorf("%q is not a boolean: want true or false", v)
	case int, int64, uint, uint64:
		return fmt.Errorf("%q is not a whole number", v)
	case float64:
		return fmt.Errorf("%q is not a number", v)
	}
	return err
}

func scalarValues(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: list items must be plain values", item.Line)
			}
			out = append(out, item.Value)
		}
		return out, nil
	default:
		return nil, errors.New("want a value or a list of values")
	}
}

// readLimited reads a whole file, refusing one larger than limit.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
