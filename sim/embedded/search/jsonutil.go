package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
)

// decodeJSON decodes one JSON value (numbers as json.Number) and rejects
// trailing data. Syntax errors become x_content_parse_exception.
func decodeJSON(data []byte) (any, *esError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxError(data, err, dec.InputOffset())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		off := dec.InputOffset()
		line, col := lineCol(data, off)
		return nil, badRequest("x_content_parse_exception", "[%d:%d] Unexpected trailing content after the JSON value", line, col)
	}
	return v, nil
}

// decodeObject decodes a JSON object; any other JSON value is a parsing
// error naming what (e.g. "request body").
func decodeObject(data []byte, what string) (map[string]any, *esError) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, parsingError("%s must be a JSON object, found [%s]", what, jsonKind(v))
	}
	return m, nil
}

func syntaxError(data []byte, err error, fallback int64) *esError {
	off := fallback
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) {
		return parsingError("request body or source parameter is required")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		off = int64(len(data))
	}
	line, col := lineCol(data, off)
	return badRequest("x_content_parse_exception", "[%d:%d] %s", line, col, err.Error())
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col := 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "START_OBJECT"
	case []any:
		return "START_ARRAY"
	case string:
		return "VALUE_STRING"
	case json.Number, float64:
		return "VALUE_NUMBER"
	case bool:
		return "VALUE_BOOLEAN"
	case nil:
		return "VALUE_NULL"
	}
	return "UNKNOWN"
}

// deepMerge merges patch into dst recursively (ES partial update semantics:
// objects merge, everything else replaces). dst is modified.
func deepMerge(dst, patch map[string]any) map[string]any {
	for k, pv := range patch {
		if pm, ok := pv.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = deepMerge(dm, pm)
				continue
			}
		}
		dst[k] = pv
	}
	return dst
}

func jsonEqual(a, b any) bool { return reflect.DeepEqual(a, b) }
