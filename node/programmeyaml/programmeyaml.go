// Package programmeyaml reads YAML programme documents for the engine: it
// parses YAML with go.yaml.in/yaml/v3 and hands the engine the tree as an
// engine.YAMLNode, so that the engine, which imports the standard library
// only, applies its own rules (no aliases, plain decimal integers, one
// document) and decodes YAML and JSON programmes the same way.
//
// It must not interpret the programme: that is the engine's job.
package programmeyaml

import (
	"bytes"
	"errors"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/patron/patron/engine"
)

// ErrSeveralDocuments is returned for data holding more than one YAML
// document: a programme is one document.
var ErrSeveralDocuments = errors.New("programmeyaml: only one YAML document is allowed")

// Parse parses one YAML document into the engine's tree. It returns nil,
// nil for a document that is empty or holds only comments.
func Parse(data []byte) (*engine.YAMLNode, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, ErrSeveralDocuments
	}
	return convert(&doc, 0), nil
}

// ParseProgramme parses a programme document in JSON or YAML.
func ParseProgramme(data []byte, zones engine.ZoneResolver) (*engine.Programme, error) {
	return engine.ParseProgrammeDoc(data, zones, Parse)
}

// maxDepth stops the copy a little below the depth the engine refuses
// (engine.MaxProgrammeDepth), so a hostile, deeply nested document costs no
// more than the engine will look at; the engine still sees it as too deep.
const maxDepth = engine.MaxProgrammeDepth + 4

func convert(n *yaml.Node, depth int) *engine.YAMLNode {
	if depth > maxDepth {
		return &engine.YAMLNode{Kind: engine.YAMLSequence}
	}
	out := &engine.YAMLNode{Kind: kind(n.Kind), Value: n.Value}
	if n.Kind == yaml.ScalarNode {
		out.Tag = n.ShortTag()
	}
	if len(n.Content) > 0 {
		out.Content = make([]*engine.YAMLNode, len(n.Content))
		for i, c := range n.Content {
			out.Content[i] = convert(c, depth+1)
		}
	}
	return out
}

func kind(k yaml.Kind) engine.YAMLKind {
	switch k {
	case yaml.DocumentNode:
		return engine.YAMLDocument
	case yaml.MappingNode:
		return engine.YAMLMapping
	case yaml.SequenceNode:
		return engine.YAMLSequence
	case yaml.ScalarNode:
		return engine.YAMLScalar
	case yaml.AliasNode:
		return engine.YAMLAlias
	}
	return 0
}
