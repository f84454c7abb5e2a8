package search

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
)

// esError is an Elasticsearch-shaped error: it renders as
// {"error":{"root_cause":[...],"type":...,"reason":...},"status":N}.
type esError struct {
	status int
	typ    string
	reason string
	// extra holds additional fields of the error object (index, index_uuid...).
	extra map[string]any
	// cause, when set, is rendered as caused_by and used as root cause.
	cause *esError
}

func (e *esError) Error() string { return e.typ + ": " + e.reason }

func newESError(status int, typ, format string, args ...any) *esError {
	return &esError{status: status, typ: typ, reason: fmt.Sprintf(format, args...)}
}

func badRequest(typ, format string, args ...any) *esError {
	return newESError(http.StatusBadRequest, typ, format, args...)
}

func parsingError(format string, args ...any) *esError {
	return badRequest("parsing_exception", format, args...)
}

func illegalArgument(format string, args ...any) *esError {
	return badRequest("illegal_argument_exception", format, args...)
}

func indexNotFound(name string) *esError {
	e := newESError(http.StatusNotFound, "index_not_found_exception", "no such index [%s]", name)
	e.extra = map[string]any{
		"resource.type": "index_or_alias",
		"resource.id":   name,
		"index_uuid":    "_na_",
		"index":         name,
	}
	return e
}

// errObject renders an error object with ES's key order: root_cause, type,
// reason, extra fields, caused_by.
type errObject struct {
	rootCause []errObject
	typ       string
	reason    string
	extra     map[string]any
	cause     *errObject
}

func (o errObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	put := func(k string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
		return nil
	}
	if o.rootCause != nil {
		if err := put("root_cause", o.rootCause); err != nil {
			return nil, err
		}
	}
	_ = put("type", o.typ)
	_ = put("reason", o.reason)
	keys := make([]string, 0, len(o.extra))
	for k := range o.extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := put(k, o.extra[k]); err != nil {
			return nil, err
		}
	}
	if o.cause != nil {
		if err := put("caused_by", *o.cause); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (e *esError) object() errObject {
	o := errObject{typ: e.typ, reason: e.reason, extra: e.extra}
	if e.cause != nil {
		c := e.cause.object()
		o.cause = &c
	}
	return o
}

// rootCause returns the innermost error of the chain.
func (e *esError) rootCause() *esError {
	r := e
	for r.cause != nil {
		r = r.cause
	}
	return r
}

// errorBody is the full response body for an error.
type errorBody struct {
	Error  errObject `json:"error"`
	Status int       `json:"status"`
}

// body is the full response body for this error.
func (e *esError) body() errorBody {
	rc := e.rootCause().object()
	rc.cause = nil
	obj := e.object()
	obj.rootCause = []errObject{rc}
	return errorBody{Error: obj, Status: e.status}
}

// itemError is the error object used inside bulk items (no root_cause).
func (e *esError) itemError() errObject { return e.object() }
