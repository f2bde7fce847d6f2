package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// finalizeUpgrade raises the chain's format: POST /upgrade/finalize on
// the HQ leader. It emits a chain.format event through Raft; every node
// applies it and from then on writes the current format's events. Run it
// only once every node of the chain runs a build that reads that format
// (docs/upgrades.md): a node of the previous build stops syncing at the
// first event it cannot read.
func (a *hqAdmin) finalizeUpgrade(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), adminRequestTimeout)
	defer cancel()
	before := a.node.ChainFormat()
	if before >= engine.CurrentChainFormat {
		writeJSON(w, http.StatusOK, map[string]any{"chain_format": before, "changed": false})
		return
	}
	ev, err := a.events.Emit(ctx, engine.Event{Kind: engine.EventChainFormat,
		Format: &engine.ChainFormatChange{Version: engine.CurrentChainFormat}})
	if err != nil {
		a.fail(w, "finalize upgrade", err)
		return
	}
	a.log.Info("chain upgrade finalized", "from", before, "to", engine.CurrentChainFormat, "event", fmt.Sprintf("%s/%d", ev.Origin, ev.Seq))
	writeJSON(w, http.StatusOK, map[string]any{"chain_format": engine.CurrentChainFormat, "changed": true,
		"event": fmt.Sprintf("%s/%d", ev.Origin, ev.Seq)})
}

const upgradeUsage = `Usage: patron hq upgrade finalize --admin URL[,URL...] --token-file F

Raises the chain's event format to this build's (` + "%d" + `) once every HQ node
and every store runs this build. Until then nodes write only events the
previous build reads. See docs/upgrades.md.
`

func runHQUpgrade(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "finalize" {
		fmt.Fprintf(stderr, upgradeUsage, engine.CurrentChainFormat)
		return errUsage
	}
	var af adminFlags
	fs := flag.NewFlagSet("patron hq upgrade finalize", flag.ContinueOnError)
	af.register(fs)
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return helpOK(err)
	}
	urls, tok, err := af.resolve(true)
	if err != nil {
		return err
	}
	out, err := adminCall(ctx, http.MethodPost, urls, "/upgrade/finalize", tok, "application/json", nil)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

const migrateUsage = `Usage: patron migrate --data DIR [--check]

Brings a stopped node's data file to this build's schema (version %d), as
a node would at start, and says what it did; --check only says what it
would do. A file newer than this build is refused. Take a backup first
(patron backup --data DIR --to FILE).
`

// runMigrate moves a stopped node's data forward.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var data string
	var check bool
	fs := flag.NewFlagSet("patron migrate", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintf(fs.Output(), migrateUsage+"\nFlags:\n", node.SchemaVersion); fs.PrintDefaults() }
	fs.StringVar(&data, "data", "", "data directory of the STOPPED node (required)")
	fs.BoolVar(&check, "check", false, "report only; change nothing")
	if err := parseFlags(fs, args, stderr); err != nil {
		return helpOK(err)
	}
	if data == "" {
		return errors.New("patron migrate: --data is required")
	}
	path := filepath.Join(data, dataFileName)
	info, err := node.Inspect(path)
	if err != nil {
		return fmt.Errorf("patron migrate: %w", err)
	}
	fmt.Fprintf(stdout, "%s: schema %d (this build %d), chain format %d (this build writes up to %d), origin %s\n",
		path, info.Schema, node.SchemaVersion, info.ChainFormat, engine.CurrentChainFormat, info.Origin)
	if info.Schema == node.SchemaVersion {
		fmt.Fprintln(stdout, "nothing to migrate")
		return nil
	}
	if check {
		fmt.Fprintf(stdout, "would migrate schema %d → %d\n", info.Schema, node.SchemaVersion)
		return nil
	}
	if err := node.Migrate(ctx, path, slog.New(slog.DiscardHandler)); err != nil {
		return fmt.Errorf("patron migrate: %w", err)
	}
	after, err := node.Inspect(path)
	if err != nil {
		return fmt.Errorf("patron migrate: %w", err)
	}
	fmt.Fprintf(stdout, "migrated schema %d → %d\n", info.Schema, after.Schema)
	return nil
}
