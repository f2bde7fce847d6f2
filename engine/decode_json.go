package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// jsonDecoder decodes a JSON programme token by token into the programme
// types, by their json tags, matching names exactly. Unlike
// encoding/json it keeps going after a wrong type or an unknown field, so
// that every problem is reported with its path, and it never turns a
// number into a float: numbers arrive as their literal text.
//
// Types that read a value of their own shape (MoneyRange, QtyRange,
// Decimal, OTPRule) implement jsonLeaf; every other struct is walked field
// by field. A map[string][]string (attribute filters) also accepts a
// single string for a list of one.
type jsonDecoder struct {
	dec      *json.Decoder
	fromYAML bool // adds a hint about quoting to "must be a string"
	problems problemList
	fatal    bool // a syntax error stopped decoding
	structs  map[reflect.Type]map[string]int
}

// jsonLeaf is implemented by types that decode a whole JSON value
// themselves. unmarshalLeaf gets the value's JSON text, including "null",
// and returns a problem message without the "engine: " prefix.
type jsonLeaf interface {
	unmarshalLeaf(raw []byte) error
}

var jsonLeafType = reflect.TypeFor[jsonLeaf]()

// stringListType is the attribute-filter value type that also accepts a
// single string.
var stringListType = reflect.TypeFor[[]string]()

// errStop unwinds decoding after a fatal problem has been recorded.
var errStop = errors.New("engine: decoding stopped")

func newJSONDecoder(data []byte, fromYAML bool) *jsonDecoder {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return &jsonDecoder{dec: dec, fromYAML: fromYAML, structs: make(map[reflect.Type]map[string]int)}
}

// decodeProgramme decodes the whole document into p, then insists on the
// end of input.
func (d *jsonDecoder) decodeProgramme(p *Programme) {
	tok, err := d.token()
	if err != nil {
		return
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		d.fail(nil, "the programme must be an object")
		return
	}
	if err := d.value(tok, reflect.ValueOf(p).Elem(), nil, 1); err != nil {
		return
	}
	if _, err := d.dec.Token(); err != io.EOF {
		d.fail(nil, "unexpected data after the programme")
	}
}

// token reads the next token; a syntax error is fatal.
func (d *jsonDecoder) token() (json.Token, error) {
	tok, err := d.dec.Token()
	if err == nil {
		return tok, nil
	}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		d.fail(nil, fmt.Sprintf("JSON syntax error at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: ")))
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		d.fail(nil, "unexpected end of the document")
	default:
		d.fail(nil, "JSON: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil, errStop
}

// fail records a fatal problem.
func (d *jsonDecoder) fail(p *path, msg string) {
	d.fatal = true
	d.problems.add(p.String(), msg)
}

// value decodes the value that starts with tok into v. It returns errStop
// after a fatal problem; type problems are recorded and the value skipped.
func (d *jsonDecoder) value(tok json.Token, v reflect.Value, p *path, depth int) error {
	if depth > MaxProgrammeDepth {
		d.fail(p, fmt.Sprintf("nested deeper than %d levels (MaxProgrammeDepth)", MaxProgrammeDepth))
		return errStop
	}
	if reflect.PointerTo(v.Type()).Implements(jsonLeafType) {
		return d.leaf(tok, v, p, depth)
	}
	if tok == nil {
		switch v.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			v.SetZero()
		default:
			d.problems.add(p.String(), "must be "+describe(v.Type())+", not null")
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		if err := d.value(tok, elem.Elem(), p, depth); err != nil {
			return err
		}
		v.Set(elem)
		return nil
	case reflect.Struct:
		return d.object(tok, v, p, depth)
	case reflect.Map:
		return d.mapValue(tok, v, p, depth)
	case reflect.Slice:
		return d.array(tok, v, p, depth)
	case reflect.String:
		s, ok := tok.(string)
		if !ok {
			return d.mismatch(tok, v.Type(), p, depth)
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		b, ok := tok.(bool)
		if !ok {
			return d.mismatch(tok, v.Type(), p, depth)
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		num, ok := tok.(json.Number)
		if !ok {
			return d.mismatch(tok, v.Type(), p, depth)
		}
		n, msg := parseIntLiteral(string(num))
		if msg == "" && v.OverflowInt(n) {
			msg = "is out of range"
		}
		if msg != "" {
			d.problems.add(p.String(), msg)
			return nil
		}
		v.SetInt(n)
		return nil
	}
	// A programme type with a field kind the decoder does not know is a
	// programming error, caught by the seed-programme tests.
	panic(fmt.Sprintf("engine: decoding a programme: unsupported field type %s at %s", v.Type(), p))
}

// object decodes a JSON object into the struct v, field by field.
func (d *jsonDecoder) object(tok json.Token, v reflect.Value, p *path, depth int) error {
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return d.mismatch(tok, v.Type(), p, depth)
	}
	fields := d.fieldsOf(v.Type())
	seen := make(map[string]bool, len(fields))
	return d.members(p, depth, func(key string, valTok json.Token) error {
		fp := p.field(key)
		i, known := fields[key]
		switch {
		case seen[key]:
			d.problems.add(fp.String(), "duplicate key")
			return d.skip(valTok, fp, depth+1)
		case !known:
			seen[key] = true
			d.problems.add(fp.String(), "unknown field")
			return d.skip(valTok, fp, depth+1)
		}
		seen[key] = true
		return d.value(valTok, v.Field(i), fp, depth+1)
	})
}

// mapValue decodes a JSON object into the map v (string keys). An empty
// object leaves the map nil, as an absent one does, so a programme
// round-trips through json.Marshal and its omitempty tags.
func (d *jsonDecoder) mapValue(tok json.Token, v reflect.Value, p *path, depth int) error {
	t := v.Type()
	if delim, ok := tok.(json.Delim); !ok || delim != '{' || t.Key().Kind() != reflect.String {
		return d.mismatch(tok, t, p, depth)
	}
	m := reflect.MakeMap(t)
	err := d.members(p, depth, func(key string, valTok json.Token) error {
		fp := p.field(key)
		k := reflect.ValueOf(key).Convert(t.Key())
		if m.MapIndex(k).IsValid() {
			d.problems.add(fp.String(), "duplicate key")
			return d.skip(valTok, fp, depth+1)
		}
		elem := reflect.New(t.Elem()).Elem()
		if s, ok := valTok.(string); ok && t.Elem() == stringListType {
			elem.Set(reflect.ValueOf([]string{s}))
		} else if err := d.value(valTok, elem, fp, depth+1); err != nil {
			return err
		}
		m.SetMapIndex(k, elem)
		return nil
	})
	if m.Len() == 0 {
		v.SetZero()
	} else {
		v.Set(m)
	}
	return err
}

// members calls fn for each key and the first token of its value, then
// consumes the closing brace.
func (d *jsonDecoder) members(p *path, depth int, fn func(key string, valTok json.Token) error) error {
	for d.dec.More() {
		keyTok, err := d.token()
		if err != nil {
			return err
		}
		key, ok := keyTok.(string)
		if !ok {
			d.fail(p, "object key is not a string")
			return errStop
		}
		valTok, err := d.token()
		if err != nil {
			return err
		}
		if err := fn(key, valTok); err != nil {
			return err
		}
	}
	_, err := d.token() // '}'
	return err
}

// array decodes a JSON array into the slice v; an empty array leaves it
// nil (see mapValue).
func (d *jsonDecoder) array(tok json.Token, v reflect.Value, p *path, depth int) error {
	if delim, ok := tok.(json.Delim); !ok || delim != '[' {
		return d.mismatch(tok, v.Type(), p, depth)
	}
	s := reflect.MakeSlice(v.Type(), 0, 0)
	for i := 0; d.dec.More(); i++ {
		elemTok, err := d.token()
		if err != nil {
			return err
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(elemTok, elem, p.elem(i), depth+1); err != nil {
			return err
		}
		s = reflect.Append(s, elem)
	}
	if s.Len() == 0 {
		v.SetZero()
	} else {
		v.Set(s)
	}
	_, err := d.token() // ']'
	return err
}

// leaf collects the JSON text of the value that starts with tok and lets
// v's unmarshalLeaf read it.
func (d *jsonDecoder) leaf(tok json.Token, v reflect.Value, p *path, depth int) error {
	var raw bytes.Buffer
	if err := d.writeValue(&raw, tok, p, depth); err != nil {
		return err
	}
	if err := v.Addr().Interface().(jsonLeaf).unmarshalLeaf(raw.Bytes()); err != nil {
		d.problems.add(p.String(), err.Error())
	}
	return nil
}

// writeValue re-encodes the value that starts with tok. Numbers keep their
// literal text.
func (d *jsonDecoder) writeValue(buf *bytes.Buffer, tok json.Token, p *path, depth int) error {
	if depth > MaxProgrammeDepth {
		d.fail(p, fmt.Sprintf("nested deeper than %d levels (MaxProgrammeDepth)", MaxProgrammeDepth))
		return errStop
	}
	switch t := tok.(type) {
	case json.Delim:
		buf.WriteByte(byte(t))
		closing := byte(']')
		if t == '{' {
			closing = '}'
		}
		for i := 0; d.dec.More(); i++ {
			if i > 0 {
				buf.WriteByte(',')
			}
			next, err := d.token()
			if err != nil {
				return err
			}
			if t == '{' {
				writeJSONString(buf, next.(string))
				buf.WriteByte(':')
				if next, err = d.token(); err != nil {
					return err
				}
			}
			if err := d.writeValue(buf, next, p, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(closing)
		_, err := d.token()
		return err
	case string:
		writeJSONString(buf, t)
	case json.Number:
		buf.WriteString(string(t))
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case nil:
		buf.WriteString("null")
	}
	return nil
}

// mismatch records that the value is not of type t and skips it.
func (d *jsonDecoder) mismatch(tok json.Token, t reflect.Type, p *path, depth int) error {
	msg := "must be " + describe(t) + ", not " + describeToken(tok)
	if d.fromYAML && t.Kind() == reflect.String {
		msg += " (quote it in YAML)"
	}
	d.problems.add(p.String(), msg)
	return d.skip(tok, p, depth)
}

// skip consumes the rest of the value that starts with tok.
func (d *jsonDecoder) skip(tok json.Token, p *path, depth int) error {
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	open := 1
	for open > 0 {
		if depth+open > MaxProgrammeDepth+1 {
			d.fail(p, fmt.Sprintf("nested deeper than %d levels (MaxProgrammeDepth)", MaxProgrammeDepth))
			return errStop
		}
		t, err := d.token()
		if err != nil {
			return err
		}
		if delim, ok = t.(json.Delim); ok {
			if delim == '{' || delim == '[' {
				open++
			} else {
				open--
			}
		}
	}
	return nil
}

// fieldsOf maps the JSON names of t's fields to their indexes.
func (d *jsonDecoder) fieldsOf(t reflect.Type) map[string]int {
	if f, ok := d.structs[t]; ok {
		return f
	}
	f := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = sf.Name
		}
		f[name] = i
	}
	d.structs[t] = f
	return f
}

// describe names what a Go type looks like in JSON.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return describe(t.Elem())
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	}
	return t.String()
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// parseIntLiteral reads a JSON number literal that must be an integer.
func parseIntLiteral(lit string) (int64, string) {
	if strings.ContainsAny(lit, ".eE") {
		return 0, "must be an integer, not " + lit
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		return 0, "is out of range"
	}
	return n, ""
}

// writeJSONString writes s as a JSON string.
func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always marshals
	buf.Write(b)
}
