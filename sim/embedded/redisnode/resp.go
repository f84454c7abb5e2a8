package redisnode

import (
	"bytes"
	"errors"
	"strconv"
)

// reply is one decoded RESP2/RESP3 value, as written by miniredis into the
// capture buffer. Only what replication needs is kept: the type byte, the
// scalar text and nested elements.
type reply struct {
	kind  byte    // '+', '-', ':', '$', '*', '_', '%', '~', ',', '#', '(', '=', '!', '>'
	null  bool    // $-1, *-1 or RESP3 '_'
	str   string  // simple/bulk string, error text or number text
	elems []reply // array, set, push; a map flattened to k, v, k, v
}

// isError reports whether the value is a Redis error reply.
func (r reply) isError() bool { return r.kind == '-' || r.kind == '!' }

// isInt reports whether the value is the integer n.
func (r reply) isInt(n int64) bool {
	if r.kind != ':' {
		return false
	}
	v, err := strconv.ParseInt(r.str, 10, 64)
	return err == nil && v == n
}

// isOK reports whether the value is the simple string OK.
func (r reply) isOK() bool { return r.kind == '+' && r.str == "OK" }

// strings returns the bulk/simple strings of a scalar or of an array's
// elements (nulls skipped), e.g. the members an SPOP returned.
func (r reply) strings() []string {
	switch {
	case r.null:
		return nil
	case r.kind == '$' || r.kind == '+':
		return []string{r.str}
	case r.kind == '*' || r.kind == '~':
		out := make([]string, 0, len(r.elems))
		for _, e := range r.elems {
			out = append(out, e.strings()...)
		}
		return out
	}
	return nil
}

var errShortReply = errors.New("short reply")

// parseReply decodes the first RESP value of b and returns it with the rest.
func parseReply(b []byte) (reply, []byte, error) {
	if len(b) == 0 {
		return reply{}, nil, errShortReply
	}
	kind := b[0]
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return reply{}, nil, errShortReply
	}
	line, rest := string(b[1:i]), b[i+2:]
	r := reply{kind: kind}
	switch kind {
	case '+', '-', ':', ',', '#', '(':
		r.str = line
		return r, rest, nil
	case '_':
		r.null = true
		return r, rest, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(line)
		if err != nil {
			return reply{}, nil, errors.New("bad bulk length")
		}
		if n < 0 {
			r.null = true
			return r, rest, nil
		}
		if len(rest) < n+2 {
			return reply{}, nil, errShortReply
		}
		r.str = string(rest[:n])
		if kind == '=' && len(r.str) >= 4 { // verbatim: "txt:" prefix
			r.str = r.str[4:]
		}
		return r, rest[n+2:], nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(line)
		if err != nil {
			return reply{}, nil, errors.New("bad aggregate length")
		}
		if n < 0 {
			r.null = true
			return r, rest, nil
		}
		if kind == '%' || kind == '|' {
			n *= 2
		}
		r.elems = make([]reply, 0, n)
		for range n {
			var e reply
			e, rest, err = parseReply(rest)
			if err != nil {
				return reply{}, nil, err
			}
			r.elems = append(r.elems, e)
		}
		if kind == '|' { // attribute: the real value follows
			return parseReply(rest)
		}
		return r, rest, nil
	}
	return reply{}, nil, errors.New("unknown reply type " + strconv.Quote(string(kind)))
}
