package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// patron config check FILE [--for dev|store|hq]: the checks patron hq,
// store or dev make at start, without starting — the file's keys and
// values, then every flag's meaning, the files it names (keys, tokens,
// certificates, the programme) read and parsed. Every problem is listed;
// the exit status is 0 when there is none, 1 otherwise.

const configUsage = `Usage:
  patron config check FILE [--for dev|store|hq]
                            check a --config file as patron dev, store or hq would at start
                            (default --for: hq if the file has id or raft-listen, store if it
                            has hq, else dev)
`

// errPrinted marks a failure whose report was already printed.
var errPrinted = errors.New("reported")

// configRoles builds each role's flag set and its start-up checks.
var configRoles = map[string]func() (*flag.FlagSet, func() error){
	"dev": func() (*flag.FlagSet, func() error) {
		var o devOptions
		return devFlags(&o), func() error { _, err := o.resolve(); return err }
	},
	"store": func() (*flag.FlagSet, func() error) {
		var o storeOptions
		return storeFlags(&o), func() error { _, err := o.resolve(); return err }
	},
	"hq": func() (*flag.FlagSet, func() error) {
		var o hqOptions
		return hqFlags(&o), func() error { _, err := o.resolve(); return err }
	},
}

func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, configUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("patron config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, configUsage) }
	role := fs.String("for", "", "the command the file is for: dev, store or hq")
	var path string
	rest := args[1:]
	for { // FILE may come before or after --for
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		if path != "" {
			fmt.Fprint(stderr, configUsage)
			return errUsage
		}
		path, rest = fs.Arg(0), fs.Args()[1:]
	}
	if path == "" {
		fmt.Fprint(stderr, configUsage)
		return errUsage
	}
	if *role == "" {
		*role = guessRole(path)
	}
	build, ok := configRoles[*role]
	if !ok {
		return fmt.Errorf("patron config check: --for %q: want dev, store or hq", *role)
	}
	problems := checkConfig(build, path)
	if len(problems) == 0 {
		fmt.Fprintf(stdout, "%s: ok for patron %s\n", path, *role)
		return nil
	}
	fmt.Fprintf(stdout, "%s: %d problem(s) for patron %s:\n", path, len(problems), *role)
	for _, p := range problems {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	return errPrinted
}

// checkConfig applies the file to a fresh flag set of the role and runs
// its start-up checks, returning every problem, one a line.
func checkConfig(build func() (*flag.FlagSet, func() error), path string) []string {
	fs, resolve := build()
	fs.String("config", "", "")
	var problems []string
	if err := applyConfigFile(fs, path, map[string]bool{}); err != nil {
		problems = append(problems, problemLines(err, "config "+path+":")...)
	}
	if err := resolve(); err != nil {
		problems = append(problems, problemLines(err, fs.Name()+":")...)
	}
	return problems
}

// problemLines splits a joined error into lines without its prefix.
func problemLines(err error, prefix string) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), prefix))
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// guessRole reads the file's keys: id or raft-listen make it an HQ
// node's, hq a store's, anything else dev's. A file that does not read
// is guessed dev; checking it reports why it does not read.
func guessRole(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "dev"
	}
	var doc yaml.Node
	if yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return "dev"
	}
	var keys []string
	for i, n := range doc.Content[0].Content {
		if i%2 == 0 {
			keys = append(keys, n.Value)
		}
	}
	switch {
	case slices.Contains(keys, "id"), slices.Contains(keys, "raft-listen"):
		return "hq"
	case slices.Contains(keys, "hq"):
		return "store"
	}
	return "dev"
}
