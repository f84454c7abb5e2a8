package redisnode

import (
	"strconv"
	"strings"
	"time"
)

// class says how a command is treated by a node.
type class uint8

const (
	// write: changes the dataset. A replica answers READONLY; a primary
	// runs it under the capture lock and streams it to its replicas.
	write class = 1 << iota
	// blocking: may wait for data (BLPOP...). Outside MULTI it runs without
	// the capture lock and is NOT replicated.
	blocking
	// replicated: streamed although it is no data write (SCRIPT LOAD).
	replicated
)

// classify returns the class of an upper-case command name.
func classify(cmd string, args []string) class {
	switch cmd {
	case "APPEND", "BITOP", "COPY", "DECR", "DECRBY", "DEL", "DELEX",
		"EXPIRE", "EXPIREAT", "FLUSHALL", "FLUSHDB", "GEOADD", "GETDEL", "GETEX", "GETSET",
		"HDEL", "HEXPIRE", "HINCRBY", "HINCRBYFLOAT", "HMSET", "HPERSIST", "HSET", "HSETEX", "HSETNX",
		"INCR", "INCRBY", "INCRBYFLOAT",
		"LINSERT", "LMOVE", "LMPOP", "LPOP", "LPUSH", "LPUSHX", "LREM", "LSET", "LTRIM",
		"MOVE", "MSET", "MSETNX", "PERSIST", "PEXPIRE", "PEXPIREAT", "PFADD", "PFMERGE", "PSETEX",
		"RENAME", "RENAMENX", "RESTORE", "RPOP", "RPOPLPUSH", "RPUSH", "RPUSHX",
		"SADD", "SDIFFSTORE", "SET", "SETBIT", "SETEX", "SETNX", "SETRANGE", "SINTERSTORE",
		"SMOVE", "SPOP", "SREM", "SUNIONSTORE", "SWAPDB", "UNLINK",
		"XACK", "XADD", "XAUTOCLAIM", "XCLAIM", "XDEL", "XGROUP", "XTRIM",
		"ZADD", "ZINCRBY", "ZINTERSTORE", "ZMPOP", "ZPOPMAX", "ZPOPMIN", "ZREM",
		"ZREMRANGEBYLEX", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE", "ZUNIONSTORE",
		"EVAL", "EVALSHA":
		return write
	case "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BZMPOP", "BZPOPMAX", "BZPOPMIN":
		return write | blocking
	case "XREADGROUP":
		if hasWord(args, "BLOCK") {
			return write | blocking
		}
		return write
	case "GEORADIUS", "GEORADIUSBYMEMBER":
		if hasWord(args, "STORE") || hasWord(args, "STOREDIST") {
			return write
		}
	case "SCRIPT":
		if len(args) > 0 {
			switch strings.ToUpper(args[0]) {
			case "LOAD", "FLUSH":
				return replicated
			}
		}
	}
	return 0
}

func hasWord(args []string, w string) bool {
	for _, a := range args {
		if strings.EqualFold(a, w) {
			return true
		}
	}
	return false
}

// zaddFlag reports whether ZADD's args (ZADD key flags... score member...)
// carry flag f among the flags before the first score.
func zaddFlag(args []string, f string) bool {
	for _, a := range args[min(2, len(args)):] {
		switch strings.ToUpper(a) {
		case f:
			return true
		case "NX", "XX", "GT", "LT", "CH", "INCR":
		default:
			return false
		}
	}
	return false
}

// streamForm turns a command that ran on the primary (cmd = args[0], upper
// case) and its reply into the command the replica must apply, or false when
// nothing changed on the primary (an error, SETNX on an existing key...).
//
// Like Redis 7 it rewrites relative expirations into absolute ones (PXAT /
// PEXPIREAT, taken from now), so a replica applying the write `lag` later
// expires the key at the same wall-clock time as the primary. SPOP becomes
// SREM of the members actually popped and XADD * gets the generated ID, so
// neither diverges.
func streamForm(args []string, r reply, now time.Time) ([]string, bool) {
	if r.isError() || len(args) == 0 {
		return nil, false
	}
	cmd := args[0]
	switch cmd {
	case "SETNX", "DEL", "UNLINK", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST",
		"HDEL", "HSETNX", "SADD", "SREM", "ZREM", "MSETNX", "RENAMENX", "LPUSHX", "RPUSHX",
		"ZREMRANGEBYRANK", "ZREMRANGEBYSCORE", "ZREMRANGEBYLEX":
		if r.isInt(0) {
			return nil, false
		}
	case "ZADD":
		// Without CH a 0 may hide changed scores; with it, 0 changed nothing.
		if r.isInt(0) && zaddFlag(args, "CH") {
			return nil, false
		}
	case "LPOP", "RPOP", "GETDEL", "RPOPLPUSH", "LMOVE", "LMPOP", "ZMPOP":
		if r.null {
			return nil, false
		}
	}
	switch cmd {
	case "SET":
		if r.null && !hasWord(args[3:], "GET") {
			return nil, false // NX/XX not met
		}
		return rewriteTTLOpts(args, 3, now), true
	case "GETEX":
		return rewriteTTLOpts(args, 2, now), true
	case "SETEX", "PSETEX": // key ttl value -> SET key value PXAT abs
		if len(args) != 4 {
			return args, true
		}
		unit := time.Second
		if cmd == "PSETEX" {
			unit = time.Millisecond
		}
		at, ok := absMillis(args[2], unit, now)
		if !ok {
			return args, true
		}
		return []string{"SET", args[1], args[3], "PXAT", at}, true
	case "EXPIRE", "PEXPIRE": // key ttl [NX|XX|GT|LT] -> PEXPIREAT key abs [...]
		if len(args) < 3 {
			return args, true
		}
		unit := time.Second
		if cmd == "PEXPIRE" {
			unit = time.Millisecond
		}
		at, ok := absMillis(args[2], unit, now)
		if !ok {
			return args, true
		}
		out := append([]string{"PEXPIREAT", args[1], at}, args[3:]...)
		return out, true
	case "SPOP":
		members := r.strings()
		if len(args) < 2 || len(members) == 0 {
			return nil, false
		}
		return append([]string{"SREM", args[1]}, members...), true
	case "XADD":
		if r.null {
			return nil, false // NOMKSTREAM on a missing key
		}
		return rewriteXAddID(args, r), true
	}
	return args, true
}

// rewriteTTLOpts rewrites EX/PX options found from index i on into PXAT.
func rewriteTTLOpts(args []string, i int, now time.Time) []string {
	out := append([]string(nil), args...)
	for ; i < len(out)-1; i++ {
		unit := time.Duration(0)
		switch strings.ToUpper(out[i]) {
		case "EX":
			unit = time.Second
		case "PX":
			unit = time.Millisecond
		default:
			continue
		}
		if at, ok := absMillis(out[i+1], unit, now); ok {
			out[i], out[i+1] = "PXAT", at
		}
		i++
	}
	return out
}

// absMillis converts a relative TTL in unit into a Unix time in milliseconds.
func absMillis(v string, unit time.Duration, now time.Time) (string, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return "", false
	}
	return strconv.FormatInt(now.Add(time.Duration(n)*unit).UnixMilli(), 10), true
}

// clampPast rewrites absolute expiry times already in the past to 1ms from
// now, for a replica applying the stream: like Redis (checkAlreadyExpired
// is false on replicas) it keeps such a key until the primary's DEL, so a
// TTL refresh still queued behind it finds the key. Reads hide it meanwhile
// (TTL answers -2 from the expiry index).
func clampPast(args []string, now time.Time) []string {
	soon := now.Add(time.Millisecond).UnixMilli()
	var out []string
	fix := func(i int, unit int64) {
		v, err := strconv.ParseInt(args[i], 10, 64)
		if err != nil || v*unit > soon {
			return
		}
		if out == nil {
			out = append([]string(nil), args...)
		}
		if unit == 1000 { // seconds option or command -> milliseconds
			if args[0] == "EXPIREAT" {
				out[0] = "PEXPIREAT"
			} else {
				out[i-1] = "PXAT"
			}
		}
		out[i] = strconv.FormatInt(soon, 10)
	}
	switch args[0] {
	case "SET", "GETEX":
		for i := 2; i < len(args)-1; i++ {
			switch strings.ToUpper(args[i]) {
			case "PXAT":
				fix(i+1, 1)
			case "EXAT":
				fix(i+1, 1000)
			}
		}
	case "PEXPIREAT":
		if len(args) >= 3 {
			fix(2, 1)
		}
	case "EXPIREAT":
		if len(args) >= 3 {
			fix(2, 1000)
		}
	}
	if out == nil {
		return args
	}
	return out
}

// rewriteXAddID replaces an XADD auto ID ("*") by the ID the primary made.
// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] id f v...
func rewriteXAddID(args []string, r reply) []string {
	if r.kind != '$' && r.kind != '+' {
		return args
	}
	i := 2
	for i < len(args) {
		switch strings.ToUpper(args[i]) {
		case "NOMKSTREAM":
			i++
			continue
		case "MAXLEN", "MINID":
			i++
			if i < len(args) && (args[i] == "=" || args[i] == "~") {
				i++
			}
			i++ // threshold
			continue
		case "LIMIT":
			i += 2
			continue
		}
		break
	}
	if i >= len(args) || args[i] != "*" {
		return args
	}
	out := append([]string(nil), args...)
	out[i] = r.str
	return out
}
