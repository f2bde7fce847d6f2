// Package console is the web console of a Patron node, served on its
// admin listener under /console/: member look-up (profile, cards, ledger,
// statement), the programme (view and upload, with validation problems
// shown by path), campaigns (what is live now), reports (table, a bar
// chart, CSV export with progress), the replication status of every store,
// and a demo till that speaks POS protocol v1 from the browser.
//
// It owns only presentation: html/template shells rendered on the server
// and one small vanilla JavaScript file and one style sheet, embedded in
// the binary (no CDN, no build step). The pages read and change everything
// through the admin JSON API (package node/adminapi, under /api/v1/) and
// the till endpoint (/pos/v1), exactly as any other client would; the
// console holds no data, decides nothing and does not authenticate: the
// API refuses a browser without its session cookie, and the pages then
// send the user to the login page.
//
// # Using it
//
//	mux.Handle(console.Path, console.Handler(console.Config{
//		TillURL:   "ws://127.0.0.1:7070/pos/v1", // the demo till's default
//		TillToken: "",                          // typed by the operator
//	}))
//
// # Decisions
//
//   - Every page is a shell whose data the script fetches, so a page is
//     never a second, drifting rendering of what the API answers.
//   - The demo till authenticates with the ?token= query parameter of the
//     till endpoint: a browser cannot set an Authorization header on a
//     WebSocket upgrade (pos-protocol-v1.md provides the parameter for it).
//   - A Content-Security-Policy allows only the console's own script and
//     style, and WebSocket connections to any host (the till listener is
//     another port, possibly another host).
//   - Config.TillToken is written into the demo till page for whoever can
//     load it; patron dev sets it (a single-machine demo), patron store
//     and patron hq do not.
package console
