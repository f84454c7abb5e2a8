package mysqlwire

import (
	"context"
	"reflect"
	"sync"
	"time"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Statements run on SQLite with a context that is never done, and a killed
// instance or a statement past StatementTimeout interrupts them with
// sqlite3_interrupt on the connection's handle. With a cancellable context
// the driver starts a goroutine for every statement to watch it (and
// database/sql another for every query's rows): two goroutines a statement
// for an event that happens once an instance's life, 2% of the process's
// CPU at 500 payments/s (issue 19).

// interruptRetry is how often an interrupt is repeated until the statement
// ends: SQLite forgets one that arrives before the statement's first step.
const interruptRetry = 2 * time.Millisecond

// sqliteHandle is the sqlite3* of a modernc.org/sqlite driver connection (its
// unexported db field), or 0 if the driver keeps it elsewhere; statements on
// such a connection keep the cancellable context.
func sqliteHandle(dc any) uintptr {
	v := reflect.ValueOf(dc)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0
	}
	f := v.Elem().FieldByName("db")
	if !f.IsValid() || f.Kind() != reflect.Uintptr {
		return 0
	}
	return uintptr(f.Uint())
}

// interruptSQLite makes the statement running on handle h fail with
// SQLITE_INTERRUPT. The call is one atomic store; it gets a TLS of its own,
// as the statement's goroutine uses the connection's.
func interruptSQLite(h uintptr) {
	tls := libc.NewTLS()
	sqlite3.Xsqlite3_interrupt(tls, h)
	tls.Close()
}

// interrupter tracks the statement a session is running, so that another
// goroutine can interrupt it. The session marks the statement done, or
// switches its connection, under the lock; a connection that closes while
// the statement runs (a failed rollback discards it) forgets its handle
// first (sqlConn.interrupt).
type interrupter struct {
	mu      sync.Mutex
	running bool
	seq     uint64   // the running (or last) statement
	conn    *sqlConn // the connection the statement runs on
	timeout bool     // the running statement was interrupted for StatementTimeout
}

// begin marks a statement as running on c and returns its sequence number.
func (in *interrupter) begin(c *sqlConn) uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.seq++
	in.running, in.conn, in.timeout = true, c, false
	return in.seq
}

// switchTo records that the running statement moved to c (it took the
// writer connection).
func (in *interrupter) switchTo(c *sqlConn) {
	in.mu.Lock()
	in.conn = c
	in.mu.Unlock()
}

// end marks the statement done and reports whether StatementTimeout
// interrupted it.
func (in *interrupter) end() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.running = false
	return in.timeout
}

// interrupt interrupts statement seq (0: whichever is running) until it
// ends, for StatementTimeout if timeout. It returns at once when no such
// statement is running.
func (in *interrupter) interrupt(seq uint64, timeout bool) {
	first := true
	for {
		in.mu.Lock()
		if !in.running || (seq != 0 && in.seq != seq) {
			in.mu.Unlock()
			return
		}
		if first {
			seq, first = in.seq, false
			in.timeout = in.timeout || timeout
		}
		in.conn.interrupt()
		in.mu.Unlock()
		time.Sleep(interruptRetry)
	}
}

// watch interrupts the session's statements once ctx is done; stop ends
// the watch.
func (in *interrupter) watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { in.interrupt(0, false) })
}
