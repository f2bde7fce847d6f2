package filedrop

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/patron/patron/posbridge/poslog"
	"github.com/prometheus/client_golang/prometheus"
)

// Offer file formats (Config.OfferFormat).
const (
	OfferXML  = "xml"
	OfferJSON = "json"
)

// Limits and defaults; the reasons are in the comments.
const (
	// DefaultPollInterval: a till waiting for its offer file notices a
	// couple of seconds; an idle directory listing every 2 s costs nothing.
	DefaultPollInterval = 2 * time.Second
	// DefaultStableFor: tills write a bill file in milliseconds; 2 s of
	// unchanged size and mtime outlasts any pause of a live writer that is
	// not stalled.
	DefaultStableFor = 2 * time.Second
	// DefaultTerminalPrefix keeps file-till terminal ids apart from
	// WebSocket ones: workstation "31" becomes terminal "W31", so its
	// receipt numbers can never collide with those of a till named "31".
	DefaultTerminalPrefix = "W"
	// MaxScanEntries bounds the directory entries read per poll, so a
	// flooded inbox costs bounded memory and time per round; the rest
	// wait for the next round.
	MaxScanEntries = 10_000
	// MaxNameSuffix bounds the numbered names tried when processed/ or
	// failed/ already holds a file of the same name.
	MaxNameSuffix = 10_000
	// maxPrefixLen leaves room for the workstation in node's 32-character
	// terminal id.
	maxPrefixLen = 8
)

// Config configures a Bridge. Every field's zero value is valid and
// documented.
type Config struct {
	// Inbox is the folder tills drop files into; New creates it and its
	// subfolders processed/ and failed/. Default "": no inbox, so Run and
	// ProcessFile return ErrNoInbox and only Apply works (patron bridge
	// replay).
	Inbox string
	// Outbox is the folder offer files are written to. Default "": no
	// offer files are written (patron bridge replay without --outbox).
	Outbox string
	// OfferFormat is OfferXML (default, "") or OfferJSON.
	OfferFormat string
	// PollInterval is how often Run lists the inbox. Default
	// DefaultPollInterval. Polling is portable (local disks, SMB and NFS
	// shares, where change notification is unreliable) and needs no
	// dependency.
	PollInterval time.Duration
	// StableFor is how long a file's size and modification time must stay
	// unchanged before it is read; a file whose mtime is already older
	// than StableFor when first seen (renamed in) is read at once. Default
	// DefaultStableFor.
	StableFor time.Duration
	// Limits bound what one file may hold (see poslog.Limits). Zero Max
	// fields take poslog's defaults. MinorDigits is ignored: the node
	// programme's minor_digits is used.
	Limits poslog.Limits
	// TerminalPrefix is put before a workstation id to make the node's
	// terminal id. Default DefaultTerminalPrefix ("W"); at most 8
	// letters, digits, '_' or '.'.
	TerminalPrefix string
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
	// Metrics, when set, receives the counters of files and transactions.
	// Default none.
	Metrics prometheus.Registerer
	// Now is the clock used for file stability. Default time.Now.
	Now func() time.Time
}

// DefaultConfig returns a Config with every default filled in; Inbox and
// Outbox are left for the caller.
func DefaultConfig() Config {
	return Config{
		OfferFormat:    OfferXML,
		PollInterval:   DefaultPollInterval,
		StableFor:      DefaultStableFor,
		Limits:         poslog.DefaultLimits(),
		TerminalPrefix: DefaultTerminalPrefix,
		Logger:         slog.Default(),
		Now:            time.Now,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.OfferFormat == "" {
		c.OfferFormat = d.OfferFormat
	}
	if c.PollInterval == 0 {
		c.PollInterval = d.PollInterval
	}
	if c.StableFor == 0 {
		c.StableFor = d.StableFor
	}
	if c.TerminalPrefix == "" {
		c.TerminalPrefix = d.TerminalPrefix
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Inbox != "" && c.Outbox != "" && filepath.Clean(c.Inbox) == filepath.Clean(c.Outbox) {
		errs = append(errs, errors.New("filedrop: config: Outbox must not be the Inbox (offer files would be read as bills)"))
	}
	switch c.OfferFormat {
	case "", OfferXML, OfferJSON:
	default:
		errs = append(errs, fmt.Errorf("filedrop: config: OfferFormat %q: want %q or %q", c.OfferFormat, OfferXML, OfferJSON))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("filedrop: config: PollInterval %v is negative", c.PollInterval))
	}
	if c.StableFor < 0 {
		errs = append(errs, fmt.Errorf("filedrop: config: StableFor %v is negative", c.StableFor))
	}
	if c.TerminalPrefix != "" && (len(c.TerminalPrefix) > maxPrefixLen || !plainID(c.TerminalPrefix)) {
		errs = append(errs, fmt.Errorf("filedrop: config: TerminalPrefix %q: want 1 to %d letters, digits, '_' or '.'", c.TerminalPrefix, maxPrefixLen))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxBytes", c.Limits.MaxBytes},
		{"MaxDepth", int64(c.Limits.MaxDepth)},
		{"MaxLineItems", int64(c.Limits.MaxLineItems)},
		{"MaxTransactions", int64(c.Limits.MaxTransactions)},
		{"MaxTokens", int64(c.Limits.MaxTokens)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("filedrop: config: Limits.%s is negative (%d)", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// plainID reports whether s is letters, digits, '_' and '.' only: the
// characters node allows in store and terminal ids.
func plainID(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.':
		default:
			return false
		}
	}
	return s != ""
}
