// Package posbridge is what tills see: the WebSocket JSON-RPC 2.0 server of
// the POS protocol v1 (docs/protocol.md), terminal authentication at upgrade,
// the member.changed push, and a small client for tests and the CLI till.
//
// It owns the connections, their goroutines and queues, the translation of
// frames into calls on a [Service] (which *node.Node implements) and the
// mapping of the service's results and refusals onto the wire. It decides
// nothing about the business: it must not price, store, authorise or
// validate beyond the shape of the JSON; every refusal comes from the
// service as an *engine.Refusal and is mapped, in one function, to a
// JSON-RPC error whose data.reason clients switch on.
//
// # Connections
//
// A [Server] authenticates the terminal before upgrading (a bearer token in
// the Authorization header or the token query parameter; anything else is a
// bare HTTP 401). Each connection has exactly one reader goroutine (the HTTP
// handler's) and one writer goroutine; the writer drains a bounded send
// queue, and a client whose queue is full is dropped, never waited on.
// Requests may be pipelined: each runs in its own goroutine owned by the
// connection, at most [Config].MaxInFlight at a time; beyond that the reader
// stops reading, which pushes back on the till through TCP. Every read and
// write carries a deadline; the writer pings every PingInterval and a
// connection that stays silent through MaxMissedPongs pings is dropped.
//
// [Server.Shutdown] stops accepting, stops reading, lets in-flight requests
// finish, flushes their responses and closes each connection with 1001
// (going away). A request whose connection drops still runs to completion
// (bounded by RequestTimeout), so the till's retry finds the stored answer.
//
// # Caveats
//
// The origin of a WebSocket handshake is not checked: tills are not
// browsers, and the credential is a bearer token the till presents
// explicitly, never an ambient cookie, so a foreign web page cannot ride on
// it. Batches (JSON arrays of requests) are not supported. Unknown fields in
// params are ignored so that clients can send additive extensions to older
// nodes; wrong types are refused as invalid_params naming the field.
package posbridge
