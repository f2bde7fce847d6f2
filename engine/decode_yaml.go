package engine

import (
	"bytes"
	"fmt"
	"strings"
)

// YAMLNode is the part of a YAML parse tree the engine reads. The engine
// does not parse YAML itself (it imports the standard library only): the
// caller passes a YAMLParser, an adapter over a YAML library, and the
// engine converts the tree by the rules below.
type YAMLNode struct {
	Kind YAMLKind
	// Tag is the resolved short tag of a scalar: "!!str", "!!int",
	// "!!float", "!!bool", "!!null", "!!timestamp", "!!merge" for a merge
	// key, or whatever else the document said.
	Tag     string
	Value   string
	Content []*YAMLNode // document: one node; mapping: key, value, key, ...; sequence: items
}

// YAMLKind is the kind of a YAMLNode.
type YAMLKind int

// The YAML node kinds.
const (
	YAMLDocument YAMLKind = iota + 1
	YAMLMapping
	YAMLSequence
	YAMLScalar
	YAMLAlias
)

// YAMLParser parses one YAML document into a tree. It must refuse a second
// document in the same data and report syntax errors as errors.
type YAMLParser func(data []byte) (*YAMLNode, error)

// yamlToJSON converts a YAML programme to JSON text, which is then decoded
// by the JSON rules, so that YAML is only another spelling. It refuses
// what JSON cannot say or what would make YAML surprising:
//
//   - aliases (and merge keys), which can also blow a small document up
//     into a huge one;
//   - integers in any form but plain decimal: YAML 1.1 habits read 010 as
//     8 and 0x10 as 16, and an unquoted SKU like 000000007 would lose its
//     zeros;
//   - .inf and .nan, binary and custom tags;
//   - more than one document.
//
// Unquoted dates (2026-01-01) and times are kept as the strings written.
// Numbers keep their literal text: YAML floats are never parsed.
func yamlToJSON(data []byte, parse YAMLParser) ([]byte, []Problem) {
	if len(data) > MaxProgrammeYAMLBytes {
		return nil, []Problem{{Message: fmt.Sprintf(
			"the YAML document is %d bytes, over the limit of %d (MaxProgrammeYAMLBytes); use JSON for larger programmes",
			len(data), MaxProgrammeYAMLBytes)}}
	}
	if parse == nil {
		return nil, []Problem{{Message: "the document is not JSON, and this caller reads no YAML"}}
	}
	doc, err := parse(data)
	if err != nil {
		return nil, []Problem{{Message: "YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if doc == nil {
		return nil, []Problem{{Message: "the document is empty"}}
	}
	c := yamlConverter{}
	c.node(doc, nil, 0)
	if len(c.problems.list) > 0 {
		return nil, c.problems.done()
	}
	return c.out.Bytes(), nil
}

type yamlConverter struct {
	out      bytes.Buffer
	problems problemList
}

func (c *yamlConverter) node(n *YAMLNode, p *path, depth int) {
	if depth > MaxProgrammeDepth+1 { // +1: the document node
		c.problems.add(p.String(), fmt.Sprintf("nested deeper than %d levels (MaxProgrammeDepth)", MaxProgrammeDepth))
		return
	}
	switch n.Kind {
	case YAMLDocument:
		if len(n.Content) != 1 {
			c.problems.add(p.String(), "the document is empty")
			return
		}
		c.node(n.Content[0], p, depth+1)
	case YAMLMapping:
		c.mapping(n, p, depth)
	case YAMLSequence:
		c.out.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				c.out.WriteByte(',')
			}
			c.node(e, p.elem(i), depth+1)
		}
		c.out.WriteByte(']')
	case YAMLScalar:
		c.scalar(n, p)
	case YAMLAlias:
		c.problems.add(p.String(), "YAML aliases are not allowed")
	default:
		c.problems.add(p.String(), "unsupported YAML node")
	}
}

func (c *yamlConverter) mapping(n *YAMLNode, p *path, depth int) {
	c.out.WriteByte('{')
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != YAMLScalar {
			c.problems.add(p.String(), "YAML keys must be plain scalars")
			continue
		}
		if k.Tag == "!!merge" {
			c.problems.add(p.String(), "YAML merge keys (<<) are not allowed")
			continue
		}
		if i > 0 {
			c.out.WriteByte(',')
		}
		writeJSONString(&c.out, k.Value)
		c.out.WriteByte(':')
		c.node(v, p.field(k.Value), depth+1)
	}
	c.out.WriteByte('}')
}

func (c *yamlConverter) scalar(n *YAMLNode, p *path) {
	switch tag := n.Tag; tag {
	case "!!str", "!!timestamp":
		writeJSONString(&c.out, n.Value)
	case "!!null":
		c.out.WriteString("null")
	case "!!bool":
		b, ok := yamlBool(n.Value)
		if !ok {
			c.problems.add(p.String(), "not a boolean: "+n.Value)
			return
		}
		fmt.Fprint(&c.out, b)
	case "!!int":
		lit, msg := yamlInt(n.Value)
		if msg != "" {
			c.problems.add(p.String(), msg)
			return
		}
		c.out.WriteString(lit)
	case "!!float":
		lit, ok := yamlNumber(n.Value)
		if !ok {
			c.problems.add(p.String(), "not a finite decimal number: "+n.Value)
			return
		}
		c.out.WriteString(lit)
	default:
		c.problems.add(p.String(), "unsupported YAML tag "+tag)
	}
}

// yamlInt accepts a plain decimal integer, optionally signed, and returns
// it as a JSON literal.
func yamlInt(v string) (string, string) {
	digits := strings.TrimPrefix(strings.TrimPrefix(v, "+"), "-")
	switch {
	case !allDigits(digits):
		return "", "write integers as plain decimal digits, not " + v
	case len(digits) > 1 && digits[0] == '0':
		return "", "an integer with a leading zero is ambiguous in YAML; quote it if it is a string, like a SKU: " + v
	case strings.HasPrefix(v, "-"):
		return "-" + digits, ""
	}
	return digits, ""
}

// yamlNumber rewrites a YAML decimal literal as a JSON number literal
// ("+.5" → "0.5", "5." → "5"), keeping its digits. It reports false for
// .inf, .nan and anything else that is not a decimal.
func yamlNumber(v string) (string, bool) {
	sign := ""
	switch {
	case strings.HasPrefix(v, "-"):
		sign, v = "-", v[1:]
	case strings.HasPrefix(v, "+"):
		v = v[1:]
	}
	mant, exp, hasExp := strings.Cut(strings.ToLower(v), "e")
	whole, frac, _ := strings.Cut(mant, ".")
	if whole == "" && frac == "" || whole != "" && !allDigits(whole) || frac != "" && !allDigits(frac) {
		return "", false
	}
	if whole = strings.TrimLeft(whole, "0"); whole == "" {
		whole = "0"
	}
	lit := sign + whole
	if frac != "" {
		lit += "." + frac
	}
	if hasExp {
		e := strings.TrimPrefix(exp, "+")
		if !allDigits(strings.TrimPrefix(e, "-")) {
			return "", false
		}
		lit += "e" + e
	}
	return lit, true
}

// yamlBool reads the YAML 1.2 core schema booleans.
func yamlBool(v string) (bool, bool) {
	switch v {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}
