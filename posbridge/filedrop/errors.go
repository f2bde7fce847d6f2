package filedrop

import "errors"

// Sentinel errors. A bad file is not an error of ProcessFile: it is a
// Report with Outcome OutcomeFailed. These are the failures that leave the
// file where it is.
var (
	// ErrNoProgramme: the node has no programme loaded, so amounts cannot
	// be read (minor digits) nor sales priced.
	ErrNoProgramme = errors.New("filedrop: the node has no programme")
	// ErrUnavailable: the node answered "unavailable"; the file is left in
	// the inbox and Run tries it again on a later poll.
	ErrUnavailable = errors.New("filedrop: node unavailable, try again later")
	// ErrNoInbox: Run or ProcessFile on a Bridge configured without an
	// Inbox.
	ErrNoInbox = errors.New("filedrop: no inbox configured")
	// ErrNameExhausted: processed/ or failed/ holds too many files of one
	// name (MaxNameSuffix).
	ErrNameExhausted = errors.New("filedrop: no free file name")
)
