package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge/filedrop"
)

const bridgeUsage = `Usage:
  patron bridge replay --data DIR --store ID [--programme FILE] [--outbox DIR] FILE...

replay sends till files (POSLog or bill XML) to a stopped node's data file
exactly as its inbox would, without moving them, and prints a JSON report
per file. Transactions already recorded replay unchanged.
`

// replayExit is the exit code when some file failed.
type replayExit struct{ failed, total int }

func (e replayExit) Error() string {
	return fmt.Sprintf("%d of %d files failed (see the report)", e.failed, e.total)
}
func (e replayExit) ExitCode() int { return 2 }

func runBridge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "replay" {
		fmt.Fprint(stderr, bridgeUsage)
		return errUsage
	}
	var (
		data, store, programme, outbox, prefix string
	)
	fs := flag.NewFlagSet("patron bridge replay", flag.ContinueOnError)
	fs.StringVar(&data, "data", "./data", "data directory of the node (the node must not be running)")
	fs.StringVar(&store, "store", "", "the node's store id (required)")
	fs.StringVar(&programme, "programme", "", "programme file to load first, JSON or YAML (default: the node's current one)")
	fs.StringVar(&outbox, "outbox", "", "folder for offer files (default: none written)")
	fs.StringVar(&prefix, "terminal-prefix", filedrop.DefaultTerminalPrefix, "prefix of the terminal ids of file tills (as the inbox used)")
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if store == "" || fs.NArg() == 0 {
		fmt.Fprint(stderr, bridgeUsage)
		return errUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := node.DefaultConfig()
	cfg.Path = filepath.Join(data, "patron.db")
	cfg.Store = store
	cfg.Logger = logger
	if _, err := os.Stat(cfg.Path); err != nil {
		return fmt.Errorf("data file: %w", err)
	}
	n, err := node.Open(ctx, cfg)
	if err != nil {
		if errors.Is(err, node.ErrLocked) {
			return fmt.Errorf("%s is locked by another process: stop the patron node using it first (%w)", cfg.Path, err)
		}
		return err
	}
	defer n.Close()
	if programme != "" {
		doc, err := readLimited(programme, 64<<20)
		if err != nil {
			return fmt.Errorf("programme %s: %w", programme, err)
		}
		if _, err := n.LoadProgramme(ctx, doc); err != nil {
			return fmt.Errorf("programme: %w", err)
		}
	}
	b, err := filedrop.New(n, filedrop.Config{Outbox: outbox, TerminalPrefix: prefix, Logger: logger})
	if err != nil {
		return err
	}
	reports, failed, err := replayFiles(ctx, b, fs.Args())
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if encErr := enc.Encode(reports); encErr != nil {
		return errors.Join(err, encErr)
	}
	if err != nil {
		return err
	}
	if failed > 0 {
		return replayExit{failed, len(reports)}
	}
	return nil
}

// replayFiles applies each file in order; it stops at the first error
// that is not the file's own.
func replayFiles(ctx context.Context, b *filedrop.Bridge, paths []string) ([]filedrop.Report, int, error) {
	reports := []filedrop.Report{}
	failed := 0
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return reports, failed, err
		}
		rep, err := b.Apply(ctx, path, f)
		f.Close()
		if err != nil {
			return reports, failed, fmt.Errorf("%s: %w", path, err)
		}
		if rep.Outcome == filedrop.OutcomeFailed {
			failed++
		}
		reports = append(reports, rep)
	}
	return reports, failed, nil
}
