package node

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"go.etcd.io/bbolt"
)

func openCommitter(t *testing.T) (*groupCommitter, *bbolt.DB) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, &bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	return &groupCommitter{db: db}, db
}

// TestGroupCommitterCommitsEveryCall: many concurrent callers all commit,
// share transactions, and a failing or panicking call fails alone.
func TestGroupCommitterCommitsEveryCall(t *testing.T) {
	g, db := openCommitter(t)
	const callers = 200
	var mu sync.Mutex
	txOf := map[int]int{} // call → id of the transaction it last ran in
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.commit(func(tx *bbolt.Tx) error {
				mu.Lock()
				txOf[i] = tx.ID()
				mu.Unlock()
				switch {
				case i%50 == 7:
					return fmt.Errorf("call %d fails", i)
				case i%50 == 9:
					panic("call fails loudly")
				}
				return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprint(i)), []byte("x"))
			})
		}()
	}
	wg.Wait()
	groups := map[int]bool{}
	for i := range callers {
		failing := i%50 == 7 || i%50 == 9
		if failing != (errs[i] != nil) {
			t.Errorf("call %d: error %v", i, errs[i])
		}
		groups[txOf[i]] = true
	}
	db.View(func(tx *bbolt.Tx) error {
		if n := tx.Bucket([]byte("b")).Stats().KeyN; n != callers-8 {
			t.Errorf("%d keys committed, want %d", n, callers-8)
		}
		return nil
	})
	if len(groups) >= callers {
		t.Errorf("%d transactions for %d concurrent calls: nothing was grouped", len(groups), callers)
	}
	t.Logf("%d calls in %d transactions", callers, len(groups))
}

// TestGroupCommitterLoneCaller: a caller alone commits in its own
// transaction and sees its error.
func TestGroupCommitterLoneCaller(t *testing.T) {
	g, _ := openCommitter(t)
	want := errors.New("no")
	if err := g.commit(func(*bbolt.Tx) error { return want }); !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	if err := g.commit(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if g.running || len(g.queue) != 0 {
		t.Errorf("committer not idle after the calls: running %v, queue %d", g.running, len(g.queue))
	}
}
