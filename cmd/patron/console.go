package main

import (
	"context"
	"net/http"

	"github.com/patron/patron/node"
	"github.com/patron/patron/node/console"
)

// mountConsole serves the web console (package node/console) at
// /console/ on an admin listener, and sends a browser that opens the
// listener's root there. The console reads everything through the admin
// API under /api/v1/, mounted beside it.
func mountConsole(mux *http.ServeMux, cfg console.Config) *http.ServeMux {
	mux.Handle(console.Path, console.Handler(cfg))
	mux.Handle("GET /{$}", http.RedirectHandler(console.Path, http.StatusFound))
	return mux
}

// devConsole is patron dev's console: its demo till dials the node's
// till listener with the first terminal's token, filled in (dev is a
// single-machine demo; its banner prints that token too).
func devConsole(c devConfig, tillURL string) console.Config {
	cfg := console.Config{Node: "dev store " + c.store, TillURL: tillURL}
	if len(c.terminals) > 0 {
		cfg.TillToken = c.terminals[0].token
	}
	return cfg
}

// storeConsole is patron store's console: the demo till knows the till
// URL; the operator types a terminal token.
func storeConsole(store, tillURL string) console.Config {
	return console.Config{Node: "store " + store, TillURL: tillURL}
}

// hqConsole is an HQ node's console: HQ serves no tills, so the demo till
// starts empty (type a store's till URL and token).
func hqConsole(n *node.Node) console.Config {
	return console.Config{Node: "HQ node " + n.Hello(context.Background(), "").Store}
}
