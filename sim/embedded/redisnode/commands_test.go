package redisnode

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestStreamForm(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	ok := reply{kind: '+', str: "OK"}
	tests := []struct {
		name string
		args []string
		r    reply
		want []string // nil: not streamed
	}{
		{"error reply", []string{"INCR", "k"}, reply{kind: '-', str: "ERR x"}, nil},
		{"SET NX not set", []string{"SET", "k", "v", "NX", "EX", "10"}, reply{kind: '$', null: true}, nil},
		{"SET NX EX", []string{"SET", "k", "v", "NX", "EX", "10"}, ok, []string{"SET", "k", "v", "NX", "PXAT", at(10 * time.Second)}},
		{"SET px lower case", []string{"SET", "k", "v", "px", "250"}, ok, []string{"SET", "k", "v", "PXAT", at(250 * time.Millisecond)}},
		{"SET GET null still sets", []string{"SET", "k", "v", "GET"}, reply{kind: '$', null: true}, []string{"SET", "k", "v", "GET"}},
		{"SETNX refused", []string{"SETNX", "k", "v"}, reply{kind: ':', str: "0"}, nil},
		{"SETNX done", []string{"SETNX", "k", "v"}, reply{kind: ':', str: "1"}, []string{"SETNX", "k", "v"}},
		{"SETEX", []string{"SETEX", "k", "5", "v"}, ok, []string{"SET", "k", "v", "PXAT", at(5 * time.Second)}},
		{"PSETEX", []string{"PSETEX", "k", "5", "v"}, ok, []string{"SET", "k", "v", "PXAT", at(5 * time.Millisecond)}},
		{"EXPIRE GT", []string{"EXPIRE", "k", "7", "GT"}, reply{kind: ':', str: "1"}, []string{"PEXPIREAT", "k", at(7 * time.Second), "GT"}},
		{"PEXPIRE on missing key", []string{"PEXPIRE", "k", "7"}, reply{kind: ':', str: "0"}, nil},
		{"GETEX EX", []string{"GETEX", "k", "EX", "3"}, reply{kind: '$', str: "v"}, []string{"GETEX", "k", "PXAT", at(3 * time.Second)}},
		{"DEL nothing", []string{"DEL", "a", "b"}, reply{kind: ':', str: "0"}, nil},
		{"HSET update only", []string{"HSET", "h", "f", "v"}, reply{kind: ':', str: "0"}, []string{"HSET", "h", "f", "v"}},
		{"SPOP one", []string{"SPOP", "s"}, reply{kind: '$', str: "m"}, []string{"SREM", "s", "m"}},
		{"SPOP count", []string{"SPOP", "s", "2"}, reply{kind: '*', elems: []reply{{kind: '$', str: "a"}, {kind: '$', str: "b"}}}, []string{"SREM", "s", "a", "b"}},
		{"SPOP empty", []string{"SPOP", "s"}, reply{kind: '$', null: true}, nil},
		{"XADD auto id", []string{"XADD", "x", "MAXLEN", "~", "100", "*", "f", "v"}, reply{kind: '$', str: "5-0"}, []string{"XADD", "x", "MAXLEN", "~", "100", "5-0", "f", "v"}},
		{"XADD explicit id", []string{"XADD", "x", "1-1", "f", "*"}, reply{kind: '$', str: "1-1"}, []string{"XADD", "x", "1-1", "f", "*"}},
		{"LPOP empty", []string{"LPOP", "l"}, reply{kind: '_', null: true}, nil},
		{"ZADD CH nothing changed", []string{"ZADD", "z", "CH", "3", "m"}, reply{kind: ':', str: "0"}, nil},
		{"ZADD GT ch changed", []string{"ZADD", "z", "GT", "ch", "3", "m"}, reply{kind: ':', str: "1"}, []string{"ZADD", "z", "GT", "ch", "3", "m"}},
		{"ZADD 0 without CH may have changed a score", []string{"ZADD", "z", "3", "m"}, reply{kind: ':', str: "0"}, []string{"ZADD", "z", "3", "m"}},
		{"ZADD member named ch is no flag", []string{"ZADD", "z", "3", "CH"}, reply{kind: ':', str: "0"}, []string{"ZADD", "z", "3", "CH"}},
		{"ZREMRANGEBYRANK nothing", []string{"ZREMRANGEBYRANK", "z", "0", "-2"}, reply{kind: ':', str: "0"}, nil},
		{"ZREMRANGEBYRANK some", []string{"ZREMRANGEBYRANK", "z", "0", "-2"}, reply{kind: ':', str: "1"}, []string{"ZREMRANGEBYRANK", "z", "0", "-2"}},
		{"ZREMRANGEBYSCORE nothing", []string{"ZREMRANGEBYSCORE", "z", "0", "1"}, reply{kind: ':', str: "0"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, streamed := streamForm(tc.args, tc.r, now)
			if streamed != (tc.want != nil) || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q (streamed %v), want %q", got, streamed, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		args []string
		want class
	}{
		{[]string{"GET", "k"}, 0},
		{[]string{"SET", "k", "v"}, write},
		{[]string{"BLPOP", "l", "0"}, write | blocking},
		{[]string{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"}, write | blocking},
		{[]string{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"}, write},
		{[]string{"GEORADIUS", "k", "0", "0", "1", "km", "STORE", "d"}, write},
		{[]string{"GEORADIUS", "k", "0", "0", "1", "km"}, 0},
		{[]string{"SCRIPT", "load", "return 1"}, replicated},
		{[]string{"SCRIPT", "EXISTS", "abc"}, 0},
		{[]string{"EVAL_RO", "return 1", "0"}, 0},
	}
	for _, tc := range tests {
		if got := classify(tc.args[0], tc.args[1:]); got != tc.want {
			t.Errorf("classify(%q) = %b, want %b", tc.args, got, tc.want)
		}
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		kind byte
		strs []string
	}{
		{"+OK\r\n", true, '+', []string{"OK"}},
		{"-ERR bad\r\n", true, '-', nil},
		{"$3\r\nabc\r\n", true, '$', []string{"abc"}},
		{"$-1\r\n", true, '$', nil},
		{"*2\r\n$1\r\na\r\n:5\r\n", true, '*', []string{"a"}},
		{"%1\r\n+k\r\n+v\r\n", true, '%', nil},
		{"|1\r\n+a\r\n+b\r\n:7\r\n", true, ':', nil},
		{"$5\r\nab\r\n", false, 0, nil},
		{"*2\r\n:1\r\n", false, 0, nil},
		{"?x\r\n", false, 0, nil},
		{"", false, 0, nil},
	}
	for _, tc := range tests {
		r, _, err := parseReply([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if tc.ok && (r.kind != tc.kind || !slices.Equal(r.strings(), tc.strs)) {
			t.Errorf("%q: kind %q strings %q", tc.in, r.kind, r.strings())
		}
	}
}

func TestClampPast(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	soon := strconv.FormatInt(now.UnixMilli()+1, 10)
	future := strconv.FormatInt(now.UnixMilli()+5000, 10)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"SET PXAT past", []string{"SET", "k", "v", "PXAT", "999000"}, []string{"SET", "k", "v", "PXAT", soon}},
		{"SET PXAT future", []string{"SET", "k", "v", "NX", "PXAT", future}, []string{"SET", "k", "v", "NX", "PXAT", future}},
		{"SET EXAT past", []string{"SET", "k", "v", "EXAT", "10"}, []string{"SET", "k", "v", "PXAT", soon}},
		{"PEXPIREAT past", []string{"PEXPIREAT", "k", "5", "GT"}, []string{"PEXPIREAT", "k", soon, "GT"}},
		{"EXPIREAT past", []string{"EXPIREAT", "k", "5"}, []string{"PEXPIREAT", "k", soon}},
		{"GETEX PXAT past", []string{"GETEX", "k", "PXAT", "1"}, []string{"GETEX", "k", "PXAT", soon}},
		{"no TTL", []string{"SET", "k", "v"}, []string{"SET", "k", "v"}},
		{"value looks like an option", []string{"SET", "PXAT", "1"}, []string{"SET", "PXAT", "1"}},
	}
	for _, tc := range tests {
		if got := clampPast(tc.args, now); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
