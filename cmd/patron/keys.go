package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/patron/patron/replication/transport"
)

// maxSecretFileBytes bounds a key, token or key-list file: a chain of
// thousands of stores is a few hundred KiB of ID=HEX lines.
const maxSecretFileBytes = 4 << 20

// parseHexKey decodes a pre-shared key given in hex, at least
// transport.MinKeyBytes long.
func parseHexKey(what, s string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		// The decoder's message would quote the key's characters.
		return nil, fmt.Errorf("%s: not hex (an odd number of digits or a character other than 0-9, a-f)", what)
	}
	if len(k) < transport.MinKeyBytes {
		return nil, fmt.Errorf("%s: %d bytes, want at least %d (%d hex digits)", what, len(k), transport.MinKeyBytes, 2*transport.MinKeyBytes)
	}
	return k, nil
}

// parseKeyPairs reads ID=HEX pairs (from repeatable flags named flagName)
// into a map, refusing duplicates.
func parseKeyPairs(flagName string, pairs []string, into map[string][]byte) error {
	for _, p := range pairs {
		id, hexKey, ok := strings.Cut(p, "=")
		id = strings.TrimSpace(id)
		if !ok || id == "" {
			return fmt.Errorf("--%s %q: want ID=HEX", flagName, redactPair(p))
		}
		if _, dup := into[id]; dup {
			return fmt.Errorf("--%s: %s given twice", flagName, id)
		}
		k, err := parseHexKey(fmt.Sprintf("--%s %s", flagName, id), hexKey)
		if err != nil {
			return err
		}
		into[id] = k
	}
	return nil
}

// readKeyFile reads a key-list file: one ID=HEX per line; blank lines and
// lines starting with # are ignored.
func readKeyFile(path string, into map[string][]byte) error {
	data, err := readLimited(path, maxSecretFileBytes)
	if err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		id, hexKey, ok := strings.Cut(text, "=")
		id = strings.TrimSpace(id)
		if !ok || id == "" {
			return fmt.Errorf("key file %s: line %d: want ID=HEX", path, line)
		}
		if _, dup := into[id]; dup {
			return fmt.Errorf("key file %s: line %d: %s given twice", path, line, id)
		}
		k, err := parseHexKey(fmt.Sprintf("key file %s: line %d: %s", path, line, id), hexKey)
		if err != nil {
			return err
		}
		into[id] = k
	}
	return sc.Err()
}

// readSecret reads a secret (a token or a hex key) from a file, trimmed.
func readSecret(path string) (string, error) {
	data, err := readLimited(path, maxSecretFileBytes)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// redactPair keeps a malformed ID=HEX flag's id out of the error but not
// its key.
func redactPair(p string) string {
	if id, _, ok := strings.Cut(p, "="); ok {
		return id + "=…"
	}
	if len(p) > 8 {
		return p[:4] + "…"
	}
	return p
}

// keyringCheckEvery bounds how often a keys file is checked for changes:
// handshakes look keys up, and a stat per handshake is needless.
const keyringCheckEvery = time.Second

// storeKeyring is HQ's store keys: those given by --store-key and those
// of a --store-keys file, which it reads again when the file changes, so
// adding a store needs no HQ restart. A file that no longer reads keeps
// the keys it had (logged), so a half-edited file never locks every store
// out.
type storeKeyring struct {
	flags map[string][]byte
	path  string
	log   *slog.Logger

	mu      sync.Mutex // guards following
	file    map[string][]byte
	modTime time.Time
	size    int64
	checked time.Time
	broken  bool // the last read failed; logged once per change
}

// newStoreKeyring reads the file once; an error then is fatal.
func newStoreKeyring(flags map[string][]byte, path string, logger *slog.Logger) (*storeKeyring, error) {
	k := &storeKeyring{flags: flags, path: path, log: logger, file: map[string][]byte{}}
	if path == "" {
		return k, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	file, err := k.read()
	if err != nil {
		return nil, err
	}
	k.file, k.modTime, k.size, k.checked = file, fi.ModTime(), fi.Size(), time.Now()
	return k, nil
}

// read reads the file, refusing an id also given by flag.
func (k *storeKeyring) read() (map[string][]byte, error) {
	file := map[string][]byte{}
	if err := readKeyFile(k.path, file); err != nil {
		return nil, err
	}
	for id := range file {
		if _, dup := k.flags[id]; dup {
			return nil, fmt.Errorf("key file %s: %s is also given by --store-key", k.path, id)
		}
	}
	return file, nil
}

// lookup is chain.HQConfig.StoreKeys.
func (k *storeKeyring) lookup(id string) ([]byte, bool) {
	if key, ok := k.flags[id]; ok {
		return key, true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refreshLocked()
	key, ok := k.file[id]
	return key, ok
}

// ids lists every store with a key, sorted.
func (k *storeKeyring) ids() []string {
	k.mu.Lock()
	k.refreshLocked()
	out := make([]string, 0, len(k.flags)+len(k.file))
	for id := range k.file {
		out = append(out, id)
	}
	k.mu.Unlock()
	for id := range k.flags {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (k *storeKeyring) refreshLocked() {
	if k.path == "" || time.Since(k.checked) < keyringCheckEvery {
		return
	}
	k.checked = time.Now()
	fi, err := os.Stat(k.path)
	if err != nil || (fi.ModTime().Equal(k.modTime) && fi.Size() == k.size) {
		if err != nil && !k.broken {
			k.broken = true
			k.log.Error("store keys file unreadable; keeping the keys read before", "file", k.path, "err", err)
		}
		return
	}
	k.modTime, k.size = fi.ModTime(), fi.Size()
	file, err := k.read()
	if err != nil {
		k.broken = true
		k.log.Error("store keys file changed but does not read; keeping the keys read before", "err", err)
		return
	}
	k.broken = false
	k.file = file
	k.log.Info("store keys file read again", "file", k.path, "stores", len(file))
}
