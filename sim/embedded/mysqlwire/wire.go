package mysqlwire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// maxPayload is the largest payload of one MySQL packet.
const maxPayload = 1<<24 - 1

// Column charsets: binary for numbers and blobs, utf8mb4_0900_ai_ci for text.
const (
	charsetBinary = 63
	charsetText   = 255
)

// wire accumulates the packets of one response so it goes out in one write.
type wire struct {
	buf        []byte
	seq        uint8
	capability uint32
}

func (w *wire) reset(seq uint8, capability uint32) {
	if cap(w.buf) > 1<<20 {
		w.buf = nil
	}
	w.buf = w.buf[:0]
	w.seq = seq
	w.capability = capability
}

func (w *wire) start() int {
	p := len(w.buf)
	w.buf = append(w.buf, 0, 0, 0, 0)
	return p
}

func (w *wire) end(p int) {
	n := len(w.buf) - p - 4
	if n < maxPayload {
		w.buf[p], w.buf[p+1], w.buf[p+2], w.buf[p+3] = byte(n), byte(n>>8), byte(n>>16), w.seq
		w.seq++
		return
	}
	// Split a payload of 16 MiB or more into several packets.
	payload := append([]byte(nil), w.buf[p+4:]...)
	w.buf = w.buf[:p]
	for {
		c := min(len(payload), maxPayload)
		w.buf = append(w.buf, byte(c), byte(c>>8), byte(c>>16), w.seq)
		w.buf = append(w.buf, payload[:c]...)
		w.seq++
		payload = payload[c:]
		if c < maxPayload {
			return
		}
	}
}

func appendLenInt(b []byte, n uint64) []byte {
	switch {
	case n <= 250:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 0xfc, byte(n), byte(n>>8))
	case n <= 0xffffff:
		return append(b, 0xfd, byte(n), byte(n>>8), byte(n>>16))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xfe), n)
}

func appendLenStr(b []byte, s string) []byte {
	return append(appendLenInt(b, uint64(len(s))), s...)
}

func appendLenBytes(b []byte, s []byte) []byte {
	return append(appendLenInt(b, uint64(len(s))), s...)
}

// ok writes an OK packet.
func (w *wire) ok(affected, insertID uint64, status uint16) {
	p := w.start()
	w.buf = append(w.buf, mysql.OK_HEADER)
	w.buf = appendLenInt(w.buf, affected)
	w.buf = appendLenInt(w.buf, insertID)
	w.buf = append(w.buf, byte(status), byte(status>>8), 0, 0)
	if w.capability&mysql.CLIENT_SESSION_TRACK != 0 {
		w.buf = append(w.buf, 0) // empty info string
	}
	w.end(p)
}

// err writes an ERR packet.
func (w *wire) err(e *mysql.MyError) {
	p := w.start()
	w.buf = append(w.buf, mysql.ERR_HEADER, byte(e.Code), byte(e.Code>>8))
	state := e.State
	if len(state) != 5 {
		state = "HY000"
	}
	w.buf = append(w.buf, '#')
	w.buf = append(w.buf, state...)
	w.buf = append(w.buf, e.Message...)
	w.end(p)
}

// eof writes an EOF packet.
func (w *wire) eof(status uint16) {
	p := w.start()
	w.buf = append(w.buf, mysql.EOF_HEADER, 0, 0, byte(status), byte(status>>8))
	w.end(p)
}

// column describes one result column.
type column struct {
	name     string
	table    string
	typ      byte
	charset  uint16
	flags    uint16
	length   uint32
	decimals byte
}

func (w *wire) columnDef(c *column, schema string) {
	p := w.start()
	b := appendLenStr(w.buf, "def")
	b = appendLenStr(b, schema)
	b = appendLenStr(b, c.table)
	b = appendLenStr(b, c.table)
	b = appendLenStr(b, c.name)
	b = appendLenStr(b, c.name)
	b = append(b, 0x0c, byte(c.charset), byte(c.charset>>8))
	b = binary.LittleEndian.AppendUint32(b, c.length)
	b = append(b, c.typ, byte(c.flags), byte(c.flags>>8), c.decimals, 0, 0)
	w.buf = b
	w.end(p)
}

// resultSet is a complete result: columns and rows of driver values
// (int64, float64, string, []byte, time.Time or nil).
type resultSet struct {
	cols []column
	rows [][]any
}

// typeCols chooses MySQL column types from the values (SQLite is dynamically
// typed): a column is LONGLONG only if every value is an integer, and so on;
// mixed columns become VAR_STRING. declared holds SQLite declared types, used
// when a column has no non-NULL value.
func (rs *resultSet) typeCols(declared []string) {
	for j := range rs.cols {
		var ints, floats, texts, blobs, times, dates, frac int
		for _, r := range rs.rows {
			switch v := r[j].(type) {
			case int64:
				ints++
			case float64:
				floats++
			case string:
				texts++
			case []byte:
				blobs++
			case time.Time:
				if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
					dates++
				}
				if v.Nanosecond() != 0 {
					frac++
				}
				times++
			case nil:
			default:
				texts++
			}
		}
		decl := ""
		if j < len(declared) {
			decl = declared[j]
		}
		c := &rs.cols[j]
		switch {
		case ints+floats+texts+blobs+times == 0:
			c.setType(declaredType(decl))
		case texts+blobs+times == 0 && floats == 0:
			c.setType(mysql.MYSQL_TYPE_LONGLONG)
		case texts+blobs+times == 0:
			c.setType(mysql.MYSQL_TYPE_DOUBLE)
		case times > 0 && ints+floats+texts+blobs == 0:
			if dates == times && strings.HasPrefix(decl, "DATE") && !strings.HasPrefix(decl, "DATETIME") {
				c.setType(mysql.MYSQL_TYPE_DATE)
			} else {
				c.setType(mysql.MYSQL_TYPE_DATETIME)
				c.decimals = timeFSP(decl, frac > 0)
			}
		case blobs > 0 && ints+floats+texts+times == 0:
			c.setType(mysql.MYSQL_TYPE_BLOB)
		default:
			c.setType(mysql.MYSQL_TYPE_VAR_STRING)
		}
	}
}

// timeFSP returns the fractional-second digits of a DATETIME column: from
// the declared type (DATETIME(6)), else 6 when values carry fractions.
func timeFSP(decl string, hasFraction bool) byte {
	if i := strings.IndexByte(decl, '('); i > 0 && strings.HasSuffix(decl, ")") {
		if n, err := strconv.Atoi(strings.TrimSpace(decl[i+1 : len(decl)-1])); err == nil && n >= 0 && n <= 6 {
			return byte(n)
		}
	}
	if hasFraction {
		return 6
	}
	return 0
}

// declaredType maps an SQLite declared type to a MySQL column type.
func declaredType(decl string) byte {
	switch {
	case decl == "":
		return mysql.MYSQL_TYPE_VAR_STRING
	case strings.Contains(decl, "INT"):
		return mysql.MYSQL_TYPE_LONGLONG
	case strings.HasPrefix(decl, "DATETIME") || strings.HasPrefix(decl, "TIMESTAMP"):
		return mysql.MYSQL_TYPE_DATETIME
	case strings.HasPrefix(decl, "DATE"):
		return mysql.MYSQL_TYPE_DATE
	case strings.Contains(decl, "CHAR") || strings.Contains(decl, "CLOB") || strings.Contains(decl, "TEXT"):
		return mysql.MYSQL_TYPE_VAR_STRING
	case strings.Contains(decl, "BLOB") || strings.Contains(decl, "BINARY"):
		return mysql.MYSQL_TYPE_BLOB
	case strings.Contains(decl, "REAL") || strings.Contains(decl, "FLOA") || strings.Contains(decl, "DOUB"):
		return mysql.MYSQL_TYPE_DOUBLE
	}
	return mysql.MYSQL_TYPE_VAR_STRING
}

func (c *column) setType(t byte) {
	c.typ = t
	c.decimals = 0
	switch t {
	case mysql.MYSQL_TYPE_LONGLONG:
		c.charset, c.flags, c.length = charsetBinary, mysql.BINARY_FLAG|mysql.NUM_FLAG, 20
	case mysql.MYSQL_TYPE_DOUBLE:
		c.charset, c.flags, c.length, c.decimals = charsetBinary, mysql.BINARY_FLAG|mysql.NUM_FLAG, 22, 31
	case mysql.MYSQL_TYPE_DATETIME:
		c.charset, c.flags, c.length = charsetBinary, mysql.BINARY_FLAG, 19
	case mysql.MYSQL_TYPE_DATE:
		c.charset, c.flags, c.length = charsetBinary, mysql.BINARY_FLAG, 10
	case mysql.MYSQL_TYPE_BLOB:
		c.charset, c.flags, c.length = charsetBinary, mysql.BINARY_FLAG|mysql.BLOB_FLAG, 65535
	default:
		c.charset, c.flags, c.length = charsetText, 0, 1024
	}
}

// appendText appends the text-protocol form of v for a column of type typ
// with fsp fractional-second digits.
func appendText(b []byte, v any, typ, fsp byte) []byte {
	switch x := v.(type) {
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64)
	case string:
		return append(b, x...)
	case []byte:
		return append(b, x...)
	case time.Time:
		if typ == mysql.MYSQL_TYPE_DATE {
			return x.AppendFormat(b, time.DateOnly)
		}
		if fsp == 0 && x.Nanosecond() != 0 {
			fsp = 6
		}
		if fsp == 0 {
			return x.AppendFormat(b, time.DateTime)
		}
		return x.AppendFormat(b, "2006-01-02 15:04:05.000000"[:20+min(fsp, 6)])
	case bool:
		if x {
			return append(b, '1')
		}
		return append(b, '0')
	}
	return fmt.Append(b, v)
}

// resultset writes a result set in the text or binary protocol. status goes
// into the final EOF (SERVER_MORE_RESULTS_EXISTS for multi-results).
func (w *wire) resultset(rs *resultSet, schema string, status uint16, binaryProto bool) {
	p := w.start()
	w.buf = appendLenInt(w.buf, uint64(len(rs.cols)))
	w.end(p)
	for i := range rs.cols {
		w.columnDef(&rs.cols[i], schema)
	}
	w.eof(status &^ mysql.SERVER_MORE_RESULTS_EXISTS)
	var scratch []byte
	for _, r := range rs.rows {
		p := w.start()
		if !binaryProto {
			for j, v := range r {
				if v == nil {
					w.buf = append(w.buf, 0xfb)
					continue
				}
				scratch = appendText(scratch[:0], v, rs.cols[j].typ, rs.cols[j].decimals)
				w.buf = appendLenBytes(w.buf, scratch)
			}
			w.end(p)
			continue
		}
		w.buf = append(w.buf, 0)
		bm := len(w.buf)
		for range (len(r) + 7 + 2) / 8 {
			w.buf = append(w.buf, 0)
		}
		for j, v := range r {
			if v == nil {
				w.buf[bm+(j+2)/8] |= 1 << ((j + 2) % 8)
				continue
			}
			w.buf = appendBinary(w.buf, v, &rs.cols[j], &scratch)
		}
		w.end(p)
	}
	w.eof(status)
}

// appendBinary appends the binary-protocol form of v for column c.
func appendBinary(b []byte, v any, c *column, scratch *[]byte) []byte {
	typ := c.typ
	switch typ {
	case mysql.MYSQL_TYPE_LONGLONG:
		if x, ok := v.(int64); ok {
			return binary.LittleEndian.AppendUint64(b, uint64(x))
		}
	case mysql.MYSQL_TYPE_DOUBLE:
		switch x := v.(type) {
		case float64:
			return binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		case int64:
			return binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(x)))
		}
	case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATE:
		if t, ok := v.(time.Time); ok {
			return appendBinaryTime(b, t, typ)
		}
	}
	*scratch = appendText((*scratch)[:0], v, typ, c.decimals)
	return appendLenBytes(b, *scratch)
}

func appendBinaryTime(b []byte, t time.Time, typ byte) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	us := t.Nanosecond() / 1000
	switch {
	case typ == mysql.MYSQL_TYPE_DATE || (h == 0 && mi == 0 && s == 0 && us == 0):
		return append(b, 4, byte(y), byte(y>>8), byte(mo), byte(d))
	case us == 0:
		return append(b, 7, byte(y), byte(y>>8), byte(mo), byte(d), byte(h), byte(mi), byte(s))
	}
	b = append(b, 11, byte(y), byte(y>>8), byte(mo), byte(d), byte(h), byte(mi), byte(s))
	return binary.LittleEndian.AppendUint32(b, uint32(us))
}
