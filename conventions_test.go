// Conventions enforced as tests: every package documents itself, and the
// import direction of ARCHITECTURE.md holds.
package patron_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/patron/patron"

type listedPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	Deps       []string
	GoFiles    []string
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

func TestEveryPackageHasDocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue // test-only packages such as this one
		}
		if p.Name == "main" && p.Doc == "" {
			t.Errorf("%s: command has no doc comment (// Command ... or // Patron ...)", p.ImportPath)
			continue
		}
		if p.Doc == "" {
			t.Errorf("%s: package has no doc comment; add one in doc.go", p.ImportPath)
		}
	}
}

// layer says which module packages each top-level package may import.
var mayImport = map[string][]string{
	"engine":      {},
	"node":        {"engine"},
	"replication": {"engine"},
	"posbridge":   {"engine", "node"},
}

// thirdPartyHome says which top-level package alone may use a library.
var thirdPartyHome = map[string][]string{
	"github.com/gorilla/websocket": {"posbridge", "cmd", "testcluster"},
	"go.etcd.io/bbolt":             {"node", "replication"},
	"github.com/pion/dtls":         {"replication"},
	"github.com/hashicorp/raft":    {"replication"},
	"github.com/linxGnu/gosmpp":    {"node"}, // node/sms only
}

func topLevel(importPath string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
	top, _, _ := strings.Cut(rel, "/")
	return top
}

func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		from := topLevel(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				if from == "engine" && strings.Contains(strings.Split(imp, "/")[0], ".") {
					t.Errorf("%s imports %s: engine imports the standard library only", p.ImportPath, imp)
				}
				for lib, homes := range thirdPartyHome {
					if strings.HasPrefix(imp, lib) && !contains(homes, from) {
						t.Errorf("%s imports %s: only %v may", p.ImportPath, imp, homes)
					}
				}
				continue
			}
			to := topLevel(imp)
			if to == from {
				continue
			}
			if to == "cmd" || to == "testcluster" {
				t.Errorf("%s imports %s: nothing imports cmd or testcluster", p.ImportPath, imp)
				continue
			}
			allowed, layered := mayImport[from]
			if layered && !contains(allowed, to) {
				t.Errorf("%s imports %s: %s may import only %v", p.ImportPath, imp, from, allowed)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
