// Package adminapi is the admin HTTP API of a Patron node, served under
// /api/v1/ on the admin listener of patron dev, patron store and patron
// hq: member look-up and statements, the programme and its campaigns,
// store replication status, reports (JSON or CSV, and long CSV exports
// with progress), and back-office sales and returns. docs/openapi.yaml
// documents every route; a test holds it equal to the route table.
//
// It owns authentication (admin tokens with a role, compared in constant
// time, from an Authorization: Bearer header or the patron_admin cookie
// that POST /api/v1/session sets), the confinement of a store manager to
// one store, the mapping of node errors to HTTP statuses (one function,
// fail), and the export jobs: goroutines it starts, bounds in number and
// stops in Close, writing into a temporary directory Close removes.
//
// It must not decide business outcomes: sales and returns go through the
// same node calls as a till's sale.complete and sale.return, with the
// same idempotency (a back-office system names itself as a terminal, and
// its retries get the stored answer). It reaches HQ-only abilities
// (programme load through Raft, store session status) through the small
// interfaces ProgrammeLoader and StoreStatus that cmd/patron implements.
//
// # Using it
//
//	api := adminapi.New(adminapi.Config{Node: n, Tokens: tokens})
//	defer api.Close()
//	mux.Handle("/api/v1/", api.Handler())
//
// # Decisions
//
//   - Unknown query parameters are refused (400 naming the parameter),
//     so a mistyped report filter never yields silently unfiltered totals.
//   - Member views are chain-wide for both roles: a member may shop at
//     any store, and a store manager serving one needs the whole ledger
//     to explain the balance. Reports, stores, campaigns and exports are
//     confined to the manager's store.
//   - A report that has no store filter covers every store, so a store
//     manager may not run it (403) and does not see it listed.
//   - HQ replicas take no back-office sales: an HQ node's own events go
//     through Raft, which the node's sale path does not; post sales to the
//     store's node (501 on HQ).
//   - GET /api/v1/programme returns the programme as parsed, in its JSON
//     form (which ParseProgramme reads back to the same programme), not
//     the uploaded bytes: the node keeps the document for audit only.
package adminapi
