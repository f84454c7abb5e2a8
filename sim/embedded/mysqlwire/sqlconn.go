package mysqlwire

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqlConn is one SQLite connection of a storage, the statements prepared on
// it, and the last rowid an insert left on it.
//
// Each session has one of its own. Write transactions run on the storage's
// writer connection instead (see Storage.writerConn): SQLite drops a
// connection's page cache whenever another connection has committed, so with
// every session writing on its own connection each transaction re-read every
// page it touched (about ten reads a payment at 500/s, 7% of the process's
// CPU). The writer gate already serialises write transactions; on one
// connection their pages stay cached.
type sqlConn struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	// rowid is the connection's last_insert_rowid() as last seen: an
	// insert that leaves it unchanged generated no id (a table without an
	// AUTO_INCREMENT column).
	rowid int64
	// handle is the connection's sqlite3*, for interrupts (0: unknown or
	// closed, and its statements take the cancellable context). hmu guards
	// it against the connection closing while another goroutine interrupts.
	hmu    sync.Mutex
	handle uintptr
}

// newSQLConn takes a connection from the storage's pool and bounds any
// single value (zeroblob(1e9), printf padding...) to max_allowed_packet so
// one query cannot exhaust memory.
func newSQLConn(ctx context.Context, db *sql.DB) (*sqlConn, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	c := &sqlConn{conn: conn}
	if err := conn.Raw(func(dc any) error {
		c.handle = sqliteHandle(dc)
		return nil
	}); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if _, err := sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_LENGTH, maxAllowedPacket); err != nil {
		_ = conn.Close()
		return nil, err
	}
	// A pooled connection may carry an earlier session's last rowid.
	if err := conn.QueryRowContext(ctx, "SELECT last_insert_rowid()").Scan(&c.rowid); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

// prepared returns the statement prepared for q on this connection,
// preparing it on first use; nil if SQLite refuses it (the caller runs the
// literal text).
func (c *sqlConn) prepared(ctx context.Context, q string) *sql.Stmt {
	if ps, ok := c.stmts[q]; ok {
		return ps
	}
	ps, err := c.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	if len(c.stmts) >= maxStmts {
		for k, old := range c.stmts { // evict any one
			_ = old.Close()
			delete(c.stmts, k)
			break
		}
	}
	c.stmts[q] = ps
	return ps
}

// rollback ends whatever transaction is open on the connection. It reports
// false if the connection may still hold one (it must not be used again).
func (c *sqlConn) rollback() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.conn.ExecContext(ctx, "ROLLBACK")
	return err == nil || strings.Contains(err.Error(), "no transaction is active")
}

// close releases the statements and returns the connection to the pool;
// with bad, the pool discards it instead.
func (c *sqlConn) close(bad bool) {
	c.forgetHandle()
	for _, ps := range c.stmts {
		_ = ps.Close()
	}
	c.stmts = nil
	if bad {
		c.discard()
	}
	_ = c.conn.Close()
}

// discard tells the pool never to reuse the connection (it may hold an open
// transaction); the session's later statements on it fail.
func (c *sqlConn) discard() {
	c.forgetHandle()
	_ = c.conn.Raw(func(any) error { return driver.ErrBadConn })
}

// interrupt interrupts the statement running on the connection, unless its
// handle is unknown or closed.
func (c *sqlConn) interrupt() {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if c.handle != 0 {
		interruptSQLite(c.handle)
	}
}

// forgetHandle drops the handle before the connection closes: SQLite frees
// it, and an interrupt then would write to freed memory.
func (c *sqlConn) forgetHandle() {
	c.hmu.Lock()
	c.handle = 0
	c.hmu.Unlock()
}

// setLastInsertID makes last_insert_rowid() on this connection return id,
// for a session whose last insert ran on another connection (LAST_INSERT_ID()
// is per session in MySQL, per connection in SQLite). Inserting a row with
// that rowid into a temporary table sets it; the row goes again at once.
func (c *sqlConn) setLastInsertID(ctx context.Context, id int64) error {
	if c.rowid == id {
		return nil
	}
	for _, st := range []struct {
		q    string
		args []any
	}{
		{"CREATE TEMP TABLE IF NOT EXISTS paysim_last_insert_id (x)", nil},
		{"INSERT INTO temp.paysim_last_insert_id (rowid, x) VALUES (?, 0)", []any{id}},
		{"DELETE FROM temp.paysim_last_insert_id", nil},
	} {
		if _, err := c.conn.ExecContext(ctx, st.q, st.args...); err != nil {
			return fmt.Errorf("last insert id: %w", err)
		}
	}
	c.rowid = id
	return nil
}
