package posbridge

import "github.com/patron/patron/node"

// The node is the service posbridge is built for.
var _ Service = (*node.Node)(nil)
