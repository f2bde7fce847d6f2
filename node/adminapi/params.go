package adminapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// query is a request's query parameters, checked against the names a
// route takes.
type query struct {
	v url.Values
}

// parseQuery refuses a malformed query, a parameter the route does not
// take and a parameter given twice, naming it.
func parseQuery(r *http.Request, allowed ...string) (query, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return query{}, badParam("query", "malformed: %v", err)
	}
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names) // the first bad one named is the same every time
	for _, name := range names {
		if !slices.Contains(allowed, name) {
			return query{}, badParam(truncate(name, 64), "unknown parameter (this route takes %s)", strings.Join(allowed, ", "))
		}
		if len(v[name]) > 1 {
			return query{}, badParam(name, "given more than once")
		}
	}
	return query{v: v}, nil
}

func (q query) get(name string) string { return q.v.Get(name) }

// format reads format= among the choices; the first is the default.
func (q query) format(choices ...string) (string, error) {
	f := q.get("format")
	if f == "" {
		return choices[0], nil
	}
	if !slices.Contains(choices, f) {
		return "", badParam("format", "%q: want %s", truncate(f, 32), strings.Join(choices, " or "))
	}
	return f, nil
}

// boolean reads a true/false parameter (1/0 too); absent is false.
func (q query) boolean(name string) (bool, error) {
	s := q.get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badParam(name, "%q: want true or false", truncate(s, 32))
	}
	return b, nil
}

// integer reads a non-negative whole number; absent is 0.
func (q query) integer(name string, max int) (int, error) {
	s := q.get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > max {
		return 0, badParam(name, "%q: want a whole number from 0 to %d", truncate(s, 32), max)
	}
	return n, nil
}

// instant reads a time parameter (see parseInstant); absent is zero.
func (q query) instant(name string, loc *time.Location, end bool) (time.Time, error) {
	s := q.get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := parseInstant(s, loc, end)
	if err != nil {
		return time.Time{}, badParam(name, "%v", err)
	}
	return t, nil
}

// parseInstant reads an RFC 3339 time, or a date YYYY-MM-DD in loc (the
// programme's zone). Periods are [from, to): from is inclusive, to
// exclusive, so a date as to (end true) means the first instant of the
// next day, and from=2026-06-01&to=2026-06-30 covers all of June 1 to 30
// there.
func parseInstant(s string, loc *time.Location, end bool) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	if len(s) == len(time.DateOnly) {
		d, err := time.ParseInLocation(time.DateOnly, s, loc)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: want YYYY-MM-DD or an RFC 3339 time", truncate(s, 40))
		}
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time such as 2026-06-01T09:30:00+05:30, or a date YYYY-MM-DD", truncate(s, 40))
	}
	return t.UTC(), nil
}

// period reads from= and to= and checks that from is before to.
func (q query) period(loc *time.Location) (from, to time.Time, err error) {
	if from, err = q.instant("from", loc, false); err != nil {
		return from, to, err
	}
	if to, err = q.instant("to", loc, true); err != nil {
		return from, to, err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, badParam("to", "must be after from")
	}
	return from, to, nil
}

// mobileParam reads mobile=: a literal '+' in a query means a space, and
// a mobile number never starts with one, so a leading space was the '+'
// of an E.164 number typed unencoded.
func mobileParam(q query) string {
	m := q.get("mobile")
	if strings.HasPrefix(m, " ") {
		m = "+" + m[1:]
	}
	return m
}

// decodeJSON strictly decodes a JSON request body of at most limit
// bytes: unknown fields, trailing data and a larger body are refused.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return bodyError(err, limit)
		}
		return badParam("body", "trailing data after the JSON value")
	}
	return nil
}

func bodyError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "request body larger than %d bytes", limit)
	case errors.Is(err, io.EOF):
		return badParam("body", "empty; want a JSON object")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return badParam(typeErr.Field, "want %s, got %s", typeErr.Type, typeErr.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return badParam(strings.Trim(f, `"`), "unknown field")
	}
	return badParam("body", "%s", strings.TrimPrefix(msg, "json: "))
}
