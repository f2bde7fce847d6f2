package main

import (
	"github.com/patron/patron/node"
	"github.com/patron/patron/replication"
)

// The node implements the interfaces replication reaches it through; cmd
// is where the two meet, so the check lives here.
var (
	_ replication.EventLog  = (*node.Node)(nil)
	_ replication.HoldStore = (*node.Node)(nil)
)
