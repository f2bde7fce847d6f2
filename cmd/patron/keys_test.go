package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeyFileErrorsNameTheLine(t *testing.T) {
	good := strings.Repeat("ab", 16)
	tests := []struct {
		name, file, want string
	}{
		{"ok", "# keys\n\nS001=" + good + "\n S002 = " + good + "\n", ""},
		{"no equals", "S001=" + good + "\nS002\n", "line 2: want ID=HEX"},
		{"not hex", "S001=zz\n", "line 1: S001: not hex"},
		{"short", "S001=abcd\n", "line 1: S001: 2 bytes, want at least 16"},
		{"twice", "S001=" + good + "\nS001=" + good + "\n", "line 2: S001 given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys")
			writeFile(t, path, tt.file)
			keys := map[string][]byte{}
			err := readKeyFile(path, keys)
			if tt.want == "" {
				if err != nil || len(keys) != 2 || len(keys["S002"]) != 16 {
					t.Fatalf("err %v, keys %v", err, keys)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), good) {
				t.Errorf("error %q shows a key", err)
			}
		})
	}
}

func TestStoreKeyringReadsTheFileAgain(t *testing.T) {
	k1, k2 := strings.Repeat("11", 16), strings.Repeat("22", 16)
	path := filepath.Join(t.TempDir(), "store-keys")
	writeFile(t, path, "S001="+k1+"\n")
	flags := map[string][]byte{}
	if err := parseKeyPairs("store-key", []string{"S009=" + k2}, flags); err != nil {
		t.Fatal(err)
	}
	kr, err := newStoreKeyring(flags, path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := kr.lookup("S001"); !ok {
		t.Fatal("S001 not found")
	}
	if got := strings.Join(kr.ids(), ","); got != "S001,S009" {
		t.Fatalf("ids %s", got)
	}
	// A new store added to the file is found without a restart.
	rewrite := func(data string) {
		writeFile(t, path, data)
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
		kr.mu.Lock()
		kr.checked = time.Time{}
		kr.mu.Unlock()
	}
	rewrite("S001=" + k1 + "\nS002=" + k2 + "\n")
	if key, ok := kr.lookup("S002"); !ok || len(key) != 16 {
		t.Fatal("S002 not found after the file changed")
	}
	// A broken edit keeps the keys read before.
	rewrite("S001=" + k1 + "\nS003=nothex\n")
	if _, ok := kr.lookup("S002"); !ok {
		t.Fatal("a broken file dropped the keys read before")
	}
	// An id in both the file and the flags is refused.
	rewrite("S009=" + k1 + "\n")
	if key, _ := kr.lookup("S009"); string(key) != string(flags["S009"]) {
		t.Fatal("the file overrode a --store-key")
	}
}
