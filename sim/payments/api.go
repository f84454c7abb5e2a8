package payments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Request limits.
const (
	maxBodyBytes = 4 << 10
	// MaxAmount is the largest single movement in yen.
	MaxAmount = 10_000_000
)

var (
	accountRe = regexp.MustCompile(`^[um]-[0-9]{1,9}$`)
	paymentRe = regexp.MustCompile(`^pay-[0-9a-f]{20}$`)
	keyRe     = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// apiError is a 4xx/5xx answer with a clear message.
type apiError struct {
	Status int    `json:"-"`
	Error  string `json:"error"`
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Error: fmt.Sprintf(format, args...)}
}

// field describes one expected JSON field.
type field struct {
	name   string
	amount bool // an integer amount; otherwise an id string
	re     *regexp.Regexp
}

// routes maps each write route to its operation and fields.
var routes = map[string]struct {
	op     string
	fields []field
}{
	"/v1/topups":    {OpTopup, []field{{name: "account_id", re: accountRe}, {name: "amount", amount: true}}},
	"/v1/payments":  {OpPayment, []field{{name: "user_id", re: accountRe}, {name: "merchant_id", re: accountRe}, {name: "amount", amount: true}}},
	"/v1/transfers": {OpTransfer, []field{{name: "from", re: accountRe}, {name: "to", re: accountRe}, {name: "amount", amount: true}}},
	"/v1/refunds":   {OpRefund, []field{{name: "payment_id", re: paymentRe}, {name: "amount", amount: true}}},
}

// ParseMovement validates a write request: the idempotency key, a JSON
// object with exactly the expected fields (no unknown or duplicate ones),
// ids in their formats and a positive integer amount in range.
func ParseMovement(path, key string, body io.Reader) (Movement, *apiError) {
	rt, ok := routes[path]
	if !ok {
		return Movement{}, &apiError{Status: http.StatusNotFound, Error: "no such route " + path}
	}
	if key == "" {
		return Movement{}, badRequest("missing Idempotency-Key header")
	}
	if !keyRe.MatchString(key) {
		return Movement{}, badRequest("Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 _ . : -")
	}
	raw, err := io.ReadAll(io.LimitReader(body, maxBodyBytes+1))
	if err != nil {
		return Movement{}, badRequest("reading body: %v", err)
	}
	if len(raw) > maxBodyBytes {
		return Movement{}, &apiError{Status: http.StatusRequestEntityTooLarge, Error: fmt.Sprintf("body larger than %d bytes", maxBodyBytes)}
	}
	vals, aerr := decodeObject(raw)
	if aerr != nil {
		return Movement{}, aerr
	}
	got := map[string]string{}
	var amount int64
	for _, f := range rt.fields {
		v, ok := vals[f.name]
		if !ok {
			return Movement{}, badRequest("missing field %q", f.name)
		}
		delete(vals, f.name)
		if f.amount {
			if amount, aerr = parseAmount(v); aerr != nil {
				return Movement{}, aerr
			}
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return Movement{}, badRequest("field %q must be a string", f.name)
		}
		if !f.re.MatchString(s) {
			return Movement{}, badRequest("field %q: %q is not a valid id", f.name, clip(s))
		}
		got[f.name] = s
	}
	for name := range vals {
		return Movement{}, badRequest("unknown field %q", clip(name))
	}
	m := Movement{Op: rt.op, Key: key, Amount: amount}
	switch rt.op {
	case OpTopup:
		m.To = got["account_id"]
	case OpPayment:
		m.From, m.To = got["user_id"], got["merchant_id"]
	case OpTransfer:
		m.From, m.To = got["from"], got["to"]
		if m.From == m.To {
			return Movement{}, &apiError{Status: http.StatusUnprocessableEntity, Error: "cannot transfer to the same account"}
		}
	case OpRefund:
		m.PaymentID = got["payment_id"]
	}
	return m, nil
}

// decodeObject reads one JSON object, rejecting duplicate keys and trailing data.
func decodeObject(raw []byte) (map[string]json.RawMessage, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, badRequest("malformed JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, badRequest("body must be a JSON object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badRequest("malformed JSON: %v", err)
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, badRequest("malformed JSON: %v", err)
		}
		if _, dup := out[name]; dup {
			return nil, badRequest("duplicate field %q", clip(name))
		}
		out[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("trailing data after the JSON object")
	}
	return out, nil
}

// parseAmount accepts only a JSON integer in 1..MaxAmount.
func parseAmount(v json.RawMessage) (int64, *apiError) {
	s := strings.TrimSpace(string(v))
	if s == "" || s[0] == '"' {
		return 0, badRequest("amount must be a JSON integer (yen), not a string")
	}
	if strings.ContainsAny(s, ".eE") {
		return 0, badRequest("amount must be a whole number of yen, got %s", clip(s))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, badRequest("amount overflows: %s", clip(s))
		}
		return 0, badRequest("amount must be an integer, got %s", clip(s))
	}
	if n <= 0 {
		return 0, badRequest("amount must be positive, got %d", n)
	}
	if n > MaxAmount || n > math.MaxInt64/2 {
		return 0, badRequest("amount %d exceeds the limit of %d yen", n, MaxAmount)
	}
	return n, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
