package adminapi

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// Role is what an admin token may do.
type Role string

// The roles.
const (
	// RoleHQAdmin sees every store and may load programmes.
	RoleHQAdmin Role = "hq-admin"
	// RoleStoreManager sees one store: its reports, exports, status and
	// campaigns, and posts back-office sales on its node only.
	RoleStoreManager Role = "store-manager"
)

// Token is one admin token and what it grants.
type Token struct {
	Role   Role
	Store  string // the store of a store manager; "" for an HQ admin
	Secret string
}

// Token file limits.
const (
	// MinTokenLen is the shortest token a tokens file may hold: a bearer
	// token is a password typed by no one, and 16 characters is less than
	// any generated one (openssl rand -hex 16 gives 32).
	MinTokenLen = 16
	// MaxTokens bounds a tokens file: a chain of thousands of stores has
	// a few managers' tokens each.
	MaxTokens = 10_000
	// maxStoreIDLen is node.MaxStoreIDLen, the longest store id.
	maxStoreIDLen = 32
)

// ErrBadTokens is what every ParseTokens error wraps.
var ErrBadTokens = errors.New("adminapi: bad tokens file")

// ParseTokens reads a tokens file: one "ROLE[:STORE] TOKEN" a line
// (hq-admin, or store-manager:S001), blank lines and lines starting with
// # ignored. Errors name the line, never a token.
func ParseTokens(data []byte) ([]Token, error) {
	var out []Token
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		t, err := parseTokenLine(text)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadTokens, line, err)
		}
		if first, dup := seen[t.Secret]; dup {
			return nil, fmt.Errorf("%w: line %d: the token of line %d given again", ErrBadTokens, line, first)
		}
		seen[t.Secret] = line
		if len(out) == MaxTokens {
			return nil, fmt.Errorf("%w: more than %d tokens", ErrBadTokens, MaxTokens)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadTokens, err)
	}
	return out, nil
}

func parseTokenLine(text string) (Token, error) {
	fields := strings.Fields(text)
	if len(fields) != 2 {
		return Token{}, errors.New("want ROLE[:STORE] TOKEN")
	}
	role, store, _ := strings.Cut(fields[0], ":")
	t := Token{Role: Role(role), Store: store, Secret: fields[1]}
	if err := t.Validate(); err != nil {
		return Token{}, err
	}
	if len(t.Secret) < MinTokenLen {
		return Token{}, fmt.Errorf("token shorter than %d characters", MinTokenLen)
	}
	return t, nil
}

// Validate reports what is wrong with a token's role and store, or an
// empty secret. New refuses a Config holding such a token.
func (t Token) Validate() error {
	switch t.Role {
	case RoleHQAdmin:
		if t.Store != "" {
			return errors.New("hq-admin takes no store")
		}
	case RoleStoreManager:
		if !validStoreID(t.Store) {
			return fmt.Errorf("store-manager needs a store, store-manager:ID (1 to %d letters, digits, '_' or '.')", maxStoreIDLen)
		}
	default:
		// Not quoted: a line written TOKEN ROLE would show the token.
		return errors.New("unknown role: want hq-admin or store-manager:STORE, then the token")
	}
	if t.Secret == "" {
		return errors.New("empty token")
	}
	return nil
}

// validStoreID is node's rule for store ids.
func validStoreID(s string) bool {
	if len(s) == 0 || len(s) > maxStoreIDLen {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// principal is who an authenticated request acts as.
type principal struct {
	Role  Role
	Store string
}

// keyring holds the tokens as hashes, so that every comparison is of
// equal length and takes the same time whatever the candidate.
type keyring struct {
	sums   [][sha256.Size]byte
	grants []principal
}

func newKeyring(tokens []Token) *keyring {
	k := &keyring{}
	for _, t := range tokens {
		k.sums = append(k.sums, sha256.Sum256([]byte(t.Secret)))
		k.grants = append(k.grants, principal{Role: t.Role, Store: t.Store})
	}
	return k
}

// lookup compares the candidate with every token in constant time (no
// early exit) and returns the grant of the one it equals.
func (k *keyring) lookup(candidate string) (principal, bool) {
	sum := sha256.Sum256([]byte(candidate))
	found := -1
	for i := range k.sums {
		eq := subtle.ConstantTimeCompare(sum[:], k.sums[i][:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 || candidate == "" {
		return principal{}, false
	}
	return k.grants[found], true
}
