package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"

	"github.com/patron/patron/node/adminapi"
)

// The flags patron dev and patron store share beyond their listeners:
// tills' tokens (on the command line or from a file), the admin token
// that guards GET /backup, and TLS for tills.

// frontFlags are those flags as given.
type frontFlags struct {
	terminals       multiFlag
	terminalFile    string
	adminToken      string
	adminTokenFile  string
	adminTokensFile string
	tlsCert         string
	tlsKey          string
}

func (f *frontFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.terminals, "terminal", "terminal `ID=TOKEN` (repeatable; with none and no --terminal-file, T01 is created and its token printed)")
	fs.StringVar(&f.terminalFile, "terminal-file", "", "file of terminal tokens, one ID=TOKEN a line (# comments allowed), so tokens stay out of ps and the config file")
	fs.StringVar(&f.adminToken, "admin-token", "", "token GET /backup on the admin listener requires (Authorization: Bearer); without one it is refused. It is also an admin API token (/api/v1/): hq-admin on patron dev, store-manager of this store on patron store")
	fs.StringVar(&f.adminTokenFile, "admin-token-file", "", "file holding the admin token (instead of --admin-token)")
	fs.StringVar(&f.adminTokensFile, "admin-tokens-file", "", "file of admin API tokens, one `ROLE[:STORE] TOKEN` a line (hq-admin, store-manager:S001; # comments allowed)")
	fs.StringVar(&f.tlsCert, "pos-tls-cert", "", "certificate (PEM, chain first) tills are served over TLS with (wss://); read again when it changes")
	fs.StringVar(&f.tlsKey, "pos-tls-key", "", "private key (PEM) of --pos-tls-cert")
}

// frontConfig is frontFlags checked and read.
type frontConfig struct {
	terminals   []terminal
	generated   bool // T01 was made up: the banner prints its token
	adminToken  string
	adminTokens []adminapi.Token // --admin-tokens-file's
	tlsCert     string           // with tlsKey, or both empty: ws://
	tlsKey      string
}

// resolve checks the flags and reads the files they name, returning every
// problem.
func (f frontFlags) resolve() (frontConfig, []error) {
	var c frontConfig
	var errs []error
	var fromFile []terminal
	if f.terminalFile != "" {
		var err error
		if fromFile, err = readTerminalFile(f.terminalFile); err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	if c.terminals, c.generated, err = parseTerminals(f.terminals, fromFile, f.terminalFile != ""); err != nil {
		errs = append(errs, err)
	}
	if c.adminToken, err = secretFlag("admin-token", f.adminToken, f.adminTokenFile); err != nil {
		errs = append(errs, err)
	}
	if c.adminTokens, err = readAdminTokens(f.adminTokensFile); err != nil {
		errs = append(errs, err)
	} else if _, err := adminTokens(c.adminToken, adminapi.RoleHQAdmin, "", c.adminTokens); err != nil {
		errs = append(errs, err)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		errs = append(errs, errors.New("--pos-tls-cert and --pos-tls-key go together"))
	} else if f.tlsCert != "" {
		if _, err := loadKeyPair(f.tlsCert, f.tlsKey); err != nil {
			errs = append(errs, fmt.Errorf("--pos-tls-cert/--pos-tls-key: %w", err))
		}
		c.tlsCert, c.tlsKey = f.tlsCert, f.tlsKey
	}
	return c, errs
}

// secretFlag returns a secret given either as --NAME or as --NAME-file;
// neither is not an error (the caller decides whether it is needed).
func secretFlag(name, value, file string) (string, error) {
	switch {
	case value != "" && file != "":
		return "", fmt.Errorf("give --%s or --%s-file, not both", name, name)
	case file != "":
		s, err := readSecret(file)
		if err != nil {
			return "", fmt.Errorf("--%s-file: %w", name, err)
		}
		return s, nil
	}
	return value, nil
}

// readTerminalFile reads ID=TOKEN lines; blank lines and # comments are
// ignored. Errors name the line, never the token.
func readTerminalFile(path string) ([]terminal, error) {
	data, err := readLimited(path, maxSecretFileBytes)
	if err != nil {
		return nil, fmt.Errorf("--terminal-file: %w", err)
	}
	var out []terminal
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		id, token, ok := strings.Cut(text, "=")
		id, token = strings.TrimSpace(id), strings.TrimSpace(token)
		if !ok || id == "" || token == "" {
			return nil, fmt.Errorf("--terminal-file %s: line %d: want ID=TOKEN", path, line)
		}
		out = append(out, terminal{id, token})
	}
	return out, sc.Err()
}

type terminal struct{ id, token string }

// parseTerminals reads ID=TOKEN flags and adds the file's terminals; with
// none at all (and no file given) it makes T01 with a fresh random token,
// which the banner prints.
func parseTerminals(flags []string, fromFile []terminal, haveFile bool) ([]terminal, bool, error) {
	if len(flags) == 0 && !haveFile {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, false, fmt.Errorf("terminal token: %w", err)
		}
		return []terminal{{"T01", hex.EncodeToString(b[:])}}, true, nil
	}
	seen := map[string]bool{}
	out := make([]terminal, 0, len(flags)+len(fromFile))
	for _, f := range flags {
		id, token, ok := strings.Cut(f, "=")
		if !ok || id == "" || token == "" {
			return nil, false, fmt.Errorf("--terminal %q: want ID=TOKEN", redactPair(f))
		}
		out = append(out, terminal{id, token})
	}
	out = append(out, fromFile...)
	for _, t := range out {
		if seen[t.id] {
			return nil, false, fmt.Errorf("terminal %s given twice", t.id)
		}
		seen[t.id] = true
	}
	return out, false, nil
}

// checkListen checks a listen address's form (host:port, host optional).
func checkListen(flagName, addr string) error {
	if addr == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("--%s %q: want HOST:PORT or :PORT", flagName, addr)
	}
	return nil
}
