package posbridge

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a [Server]. The zero value of every field means its
// default, as [DefaultConfig] returns it; negative values are invalid.
type Config struct {
	// MaxFrameBytes is the largest frame (one JSON-RPC message) read from a
	// till; a larger one closes the connection with 1009. Default 1 MiB: a
	// basket of a few thousand lines fits with room to spare, and a
	// connection can never hold more than this much unread input.
	MaxFrameBytes int64

	// PingInterval is how often the server pings each till. Default 15 s.
	PingInterval time.Duration

	// MaxMissedPongs is how many pings in a row may go unanswered (with no
	// other frame from the till either) before the connection is dropped.
	// Default 2: a dead till is noticed within (MaxMissedPongs+1) ×
	// PingInterval without dropping one that hiccups once.
	MaxMissedPongs int

	// WriteTimeout bounds each frame written to a till. Default 10 s: a
	// till on the store LAN that cannot take a frame in that time is gone.
	WriteTimeout time.Duration

	// SendQueue is the number of frames (responses and notifications)
	// queued per connection for the writer. Default 64. A till whose queue
	// is full is dropped rather than waited on, so one stuck till never
	// holds up the node or other tills.
	SendQueue int

	// MaxInFlight is the number of requests of one connection handled at
	// once. Default 8. Beyond it the reader stops reading until one
	// finishes (backpressure through TCP), so a till cannot make the node
	// run unbounded work; 8 is more than a till pipelines in practice.
	MaxInFlight int

	// RequestTimeout bounds one request's call into the service. Default
	// 30 s, well above an online redemption's round trip to HQ.
	RequestTimeout time.Duration

	// MaxConnections is the number of open till connections; further
	// upgrades get HTTP 503. Default 256, far more tills than a store has.
	MaxConnections int

	// WatchFor is how long a member identified, enrolled or used in a sale
	// on a connection stays watched for member.changed. Default 10 min.
	WatchFor time.Duration

	// MaxWatched bounds the members watched per connection; the least
	// recently touched is forgotten first. Default 64: a till serves one
	// customer at a time, so 64 covers far more than ten minutes of queue.
	MaxWatched int

	// Logger receives connection and internal-error records. Default
	// slog.Default().
	Logger *slog.Logger

	// Metrics, if non-nil, gets the server's collectors registered. Default
	// nil: no metrics.
	Metrics prometheus.Registerer

	// Now is the clock, injected for tests. Default time.Now.
	Now func() time.Time
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		MaxFrameBytes:  1 << 20,
		PingInterval:   15 * time.Second,
		MaxMissedPongs: 2,
		WriteTimeout:   10 * time.Second,
		SendQueue:      64,
		MaxInFlight:    8,
		RequestTimeout: 30 * time.Second,
		MaxConnections: 256,
		WatchFor:       10 * time.Minute,
		MaxWatched:     64,
		Logger:         slog.Default(),
		Now:            time.Now,
	}
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	neg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("posbridge: config: %s is negative (%d)", name, v))
		}
	}
	neg("MaxFrameBytes", c.MaxFrameBytes)
	neg("PingInterval", int64(c.PingInterval))
	neg("MaxMissedPongs", int64(c.MaxMissedPongs))
	neg("WriteTimeout", int64(c.WriteTimeout))
	neg("SendQueue", int64(c.SendQueue))
	neg("MaxInFlight", int64(c.MaxInFlight))
	neg("RequestTimeout", int64(c.RequestTimeout))
	neg("MaxConnections", int64(c.MaxConnections))
	neg("WatchFor", int64(c.WatchFor))
	neg("MaxWatched", int64(c.MaxWatched))
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = d.MaxFrameBytes
	}
	if c.PingInterval == 0 {
		c.PingInterval = d.PingInterval
	}
	if c.MaxMissedPongs == 0 {
		c.MaxMissedPongs = d.MaxMissedPongs
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.SendQueue == 0 {
		c.SendQueue = d.SendQueue
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = d.MaxConnections
	}
	if c.WatchFor == 0 {
		c.WatchFor = d.WatchFor
	}
	if c.MaxWatched == 0 {
		c.MaxWatched = d.MaxWatched
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// readTimeout is how long a connection may stay silent: MaxMissedPongs
// pings unanswered, plus one interval for the last pong to arrive.
func (c Config) readTimeout() time.Duration {
	return time.Duration(c.MaxMissedPongs+1) * c.PingInterval
}
