package syncproto

import (
	"fmt"
	"time"

	"github.com/patron/patron/engine"
)

// Wire format versions.
const (
	// WireVersion is the first byte of every message: the encoding of the
	// envelope and bodies. A decoder refuses any other value.
	WireVersion = 1
	// ProtocolVersion is carried in Hello: the session semantics. Two
	// sides of different protocol versions end the session at Hello.
	ProtocolVersion = 1
)

// Limits of the wire format. Each bounds memory a peer can make us hold or
// work it can make us do per message.
const (
	// MaxMessageBytes bounds one encoded message: the transport carries
	// messages of up to 64 KiB, and 4 KiB is left for its own framing.
	MaxMessageBytes = 60 << 10
	// MaxBatchEvents bounds the events of one Events message, so one
	// batch is one bounded apply transaction at the receiver.
	MaxBatchEvents = 256
	// MaxBatchBytes bounds the event data of one Events message: with
	// MaxBatchEvents envelopes of at most eventOverhead bytes each it
	// stays under MaxMessageBytes. An event larger than this travels
	// alone, as a run of EventChunk messages.
	MaxBatchBytes = 40 << 10
	// MaxChunkBytes bounds the data of one EventChunk: as much event data
	// as a full Events message carries, so a chunk costs the link (and the
	// peer's pings and acks queued behind it) no more than a batch does.
	MaxChunkBytes = MaxBatchBytes
	// MaxChunkedEventBytes bounds one event carried in chunks, and so the
	// memory a receiver spends reassembling it (one such event per session
	// at a time). It is hq.MaxEventBytes (and engine.MaxEventBytes): the
	// largest event HQ's Raft log accepts, so a larger one could not be
	// relayed anyway (tested). 1 MiB is 26 chunks.
	MaxChunkedEventBytes = 1 << 20
	// MaxOriginLen bounds an origin id: store ids are at most 32
	// characters (node.MaxStoreIDLen).
	MaxOriginLen = 32
	// MaxOrigins bounds the entries of one version vector, so a vector of
	// MaxOriginLen ids and 64-bit sequences fits one message
	// (1024 × 43 bytes ≈ 43 KiB). A chain of more stores needs a paged
	// vector, that is a new protocol version.
	MaxOrigins = 1024
	// MaxIDLen bounds a hold id ("<store>-<terminal>-<receipt_no>":
	// 32 + 32 + 64 + 2) and a member id.
	MaxIDLen = 160
	// MaxAddrLen bounds a leader address in Redirect.
	MaxAddrLen = 256
)

// eventOverhead is the largest envelope of one event in an Events message:
// origin length and bytes, sequence, data length.
const eventOverhead = 1 + MaxOriginLen + 10 + 3

// The largest Events message must fit: header, batch id, count, envelopes
// and data. A compile-time check.
const _ = uint(MaxMessageBytes - (2 + 10 + 3 + MaxBatchEvents*eventOverhead + MaxBatchBytes))

// chunkOverhead is the largest EventChunk message but its data: header,
// batch id, origin length and bytes, sequence, size, offset, data length.
const chunkOverhead = 2 + 10 + 1 + MaxOriginLen + 10 + 3 + 3 + 3

// The largest EventChunk must fit too.
const _ = uint(MaxMessageBytes - (chunkOverhead + MaxChunkBytes))

// Type is the kind of a message: its second byte on the wire.
type Type uint8

// The message types. Values are wire values: never renumber.
const (
	TypeHello       Type = 1
	TypeEvents      Type = 2
	TypeAck         Type = 3
	TypeNack        Type = 4
	TypeWant        Type = 5
	TypeHoldRequest Type = 6
	TypeHoldReply   Type = 7
	TypeVoidRequest Type = 8
	TypeVoidReply   Type = 9
	TypePing        Type = 10
	TypePong        Type = 11
	TypeRedirect    Type = 12
	TypeEventChunk  Type = 13
)

var typeNames = map[Type]string{
	TypeHello: "hello", TypeEvents: "events", TypeAck: "ack", TypeNack: "nack",
	TypeWant: "want", TypeHoldRequest: "hold_request", TypeHoldReply: "hold_reply",
	TypeVoidRequest: "void_request", TypeVoidReply: "void_reply", TypePing: "ping",
	TypePong: "pong", TypeRedirect: "redirect", TypeEventChunk: "event_chunk",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Message is one protocol message: one of the types below.
type Message interface {
	Type() Type
}

// Role is what a node is to its peer in a session.
type Role uint8

// The roles. Values are wire values.
const (
	RoleStore Role = 1 // a store talking to HQ
	RoleHQ    Role = 2 // an HQ node talking to a store
	RolePeer  Role = 3 // a store talking to another store
)

func (r Role) String() string {
	switch r {
	case RoleStore:
		return "store"
	case RoleHQ:
		return "hq"
	case RolePeer:
		return "peer"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// counterpart is the role the other side of a session must have.
func (r Role) counterpart() Role {
	switch r {
	case RoleStore:
		return RoleHQ
	case RoleHQ:
		return RoleStore
	}
	return r
}

// Hello opens a session from each side.
type Hello struct {
	Protocol uint16
	Origin   string // the sender's own origin id
	Role     Role
	Have     engine.VersionVector // what the sender's log holds
}

// Events carries one batch of events the receiver lacks.
type Events struct {
	Batch  uint64 // sender-chosen, increasing within a session
	Events []engine.RawEvent
}

// EventChunk carries part of one event too large for an Events message
// (more than MaxBatchBytes, at most MaxChunkedEventBytes). The event is
// a batch of its own: its chunks share Batch, Origin, Seq and Size, come
// in order with no other Events or EventChunk between them, and the
// receiver applies the event and answers Ack or Nack for Batch once the
// last chunk arrived.
//
// The chunking is canonical: chunk k carries bytes [k×MaxChunkBytes,
// min((k+1)×MaxChunkBytes, Size)) — Offset is a multiple of MaxChunkBytes
// and Data is MaxChunkBytes long except in the last chunk — so an event
// has exactly one wire form.
type EventChunk struct {
	Batch  uint64
	Origin string
	Seq    uint64
	Size   uint64 // the whole event's data
	Offset uint64 // of Data within the event's data
	Data   []byte
}

// Ack says a batch is committed and what the receiver holds after it.
type Ack struct {
	Batch uint64
	Have  engine.VersionVector
}

// NackReason says why a batch was not applied.
type NackReason uint8

// The Nack reasons. Values are wire values.
const (
	// NackGap: the batch would apply an event before an earlier one of its
	// origin; resend from Have.
	NackGap NackReason = 1
	// NackBad: an event is malformed; the session ends.
	NackBad NackReason = 2
	// NackUnavailable: the receiver cannot commit now (HQ without a
	// leader, a failing disk); resend from Have after a pause.
	NackUnavailable NackReason = 3
)

func (r NackReason) String() string {
	switch r {
	case NackGap:
		return "gap"
	case NackBad:
		return "bad"
	case NackUnavailable:
		return "unavailable"
	}
	return fmt.Sprintf("nack(%d)", uint8(r))
}

// Nack refuses a batch; nothing of it was applied.
type Nack struct {
	Batch  uint64
	Reason NackReason
	Have   engine.VersionVector // what the receiver holds
}

// Want asks the peer to send what is missing after Have, replacing the
// peer's view of what this side holds.
type Want struct {
	Have engine.VersionVector
}

// HoldRequest asks HQ for a redemption hold. ID is the hold id, so a
// retried request is the same request.
type HoldRequest struct {
	ID   string
	Hold engine.Hold
}

// ReplyReason says whether a hold or void request was decided.
type ReplyReason uint8

// The reply reasons. Values are wire values.
const (
	ReplyOK ReplyReason = 0
	// ReplyUnavailable: HQ could not decide now; the store may retry the
	// same id or apply its offline rules.
	ReplyUnavailable ReplyReason = 1
	// ReplyInvalid: the request is malformed (ErrInvalidHold).
	ReplyInvalid ReplyReason = 2
	// ReplyNotLeader: this HQ node cannot decide and cannot forward; a
	// Redirect follows.
	ReplyNotLeader ReplyReason = 3
)

func (r ReplyReason) String() string {
	switch r {
	case ReplyOK:
		return "ok"
	case ReplyUnavailable:
		return "unavailable"
	case ReplyInvalid:
		return "invalid"
	case ReplyNotLeader:
		return "not_leader"
	}
	return fmt.Sprintf("reply(%d)", uint8(r))
}

// HoldReply answers a HoldRequest: Decision when Reason is ReplyOK.
type HoldReply struct {
	ID       string
	Reason   ReplyReason
	Decision engine.HoldDecision
}

// VoidRequest asks HQ to void a hold.
type VoidRequest struct {
	ID string
}

// VoidReply answers a VoidRequest.
type VoidReply struct {
	ID     string
	Reason ReplyReason
}

// Ping asks for a Pong with the same nonce: liveness and round-trip time.
type Ping struct {
	Nonce uint64
}

// Pong answers a Ping.
type Pong struct {
	Nonce uint64
}

// Redirect tells a store to sync with the HQ leader instead: sent by an HQ
// follower that cannot forward. LeaderAddr is the leader's sync address,
// empty when unknown.
type Redirect struct {
	LeaderID   string
	LeaderAddr string
}

// Type methods.
func (Hello) Type() Type       { return TypeHello }
func (Events) Type() Type      { return TypeEvents }
func (Ack) Type() Type         { return TypeAck }
func (Nack) Type() Type        { return TypeNack }
func (Want) Type() Type        { return TypeWant }
func (HoldRequest) Type() Type { return TypeHoldRequest }
func (HoldReply) Type() Type   { return TypeHoldReply }
func (VoidRequest) Type() Type { return TypeVoidRequest }
func (VoidReply) Type() Type   { return TypeVoidReply }
func (Ping) Type() Type        { return TypePing }
func (Pong) Type() Type        { return TypePong }
func (Redirect) Type() Type    { return TypeRedirect }
func (EventChunk) Type() Type  { return TypeEventChunk }

// holdStatuses are the wire values of engine.HoldStatus; 0 is "".
var holdStatuses = []engine.HoldStatus{"", engine.HoldPending, engine.HoldPosted,
	engine.HoldVoided, engine.HoldExpired, engine.HoldRefused}

// timeWire is how a time crosses the wire: Unix nanoseconds, the zero time
// as absent. Decoded times are UTC.
func timeWire(t time.Time) (present bool, nanos int64) {
	if t.IsZero() {
		return false, 0
	}
	return true, t.UnixNano()
}
