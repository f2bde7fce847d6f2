// Package main is command patron, which is the one Patron binary: an HQ node (patron hq), a store
// node (patron store), a store node with everything local for development
// (patron dev), a local chain for demos (patron cluster), a command-line
// till (patron pos), a load driver (patron loadtest) and admin
// subcommands. It only wires packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge"
	"github.com/patron/patron/replication/syncproto"
)

// version is set at build time with -ldflags "-X main.version=..."
// (make build: git describe --always --dirty).
var version = "dev"

// printVersion says what this binary is and which formats it speaks, so
// an operator can tell whether two builds can share data or a chain.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "patron %s\n", version)
	fmt.Fprintf(w, "go %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "data schema %d (files of schema %d and later are migrated at open; newer ones are refused)\n",
		node.SchemaVersion, node.MinMigratableSchemaVersion)
	fmt.Fprintf(w, "till protocol %s (WebSocket subprotocol)\n", posbridge.Subprotocol)
	fmt.Fprintf(w, "store sync protocol %d, wire format %d\n", syncproto.ProtocolVersion, syncproto.WireVersion)
	fmt.Fprintf(w, "events: encoding %d, chain formats %d to %d (patron hq upgrade finalize raises a chain)\n",
		engine.EventVersion, engine.ChainFormat1, engine.CurrentChainFormat)
}

const usage = `patron — offline-first loyalty and promotions server

Usage:
  patron hq       [flags]   run an HQ node: Raft member, store sync, admin API (see patron hq help)
  patron hq certs | programme load | join | remove | overdrafts | status | upgrade finalize
                            HQ administration (see patron hq help)
  patron store    [flags]   run a store node synced with HQ (see patron store -h)
  patron cluster  [flags]   run 3 HQ nodes and 2 stores on loopback for a demo (see patron cluster -h)
  patron dev      [flags]   run a store node with everything local (see patron dev -h)
  patron pos      [flags] METHOD [key=value | key:=json ...]
                            call one till protocol method and print the JSON result
  patron loadtest [flags]   drive till load at a node and print latency and throughput
  patron bridge replay --data DIR --store ID FILE...
                            send till files to a stopped node and print a JSON report
  patron config check FILE [--for dev|store|hq]
                            check a --config file without starting
  patron backup --data DIR --to FILE | --admin URL --token-file F --to FILE
                            copy a stopped node's data, or stream a running node's
  patron restore --from FILE --data DIR [--store ID]
                            put a backup back into a stopped node's data directory
  patron migrate --data DIR [--check]
                            bring a stopped node's data file to this build's schema
  patron version            print the version, the Go version and the data and protocol versions
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) && !errors.Is(err, errPrinted) {
			fmt.Fprintln(os.Stderr, "patron:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errUsage marks errors whose message was already printed with the usage.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "hq":
		return runHQ(ctx, args[1:], stdout, stderr)
	case "store":
		return runStore(ctx, args[1:], stdout, stderr)
	case "cluster":
		return runCluster(ctx, args[1:], stdout, stderr)
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "pos":
		return runPOS(ctx, args[1:], stdout, stderr)
	case "loadtest":
		return runLoadtest(ctx, args[1:], stdout, stderr)
	case "bridge":
		return runBridge(ctx, args[1:], stdout, stderr)
	case "config":
		return runConfig(args[1:], stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], stdout, stderr)
	case "restore":
		return runRestore(ctx, args[1:], stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		printVersion(stdout)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "patron: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}
