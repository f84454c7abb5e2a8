package mysqlwire

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// session is one client connection: it owns a dedicated SQLite connection,
// so transactions are per wire connection. While it holds the writer gate for
// a transaction that began as a write, it runs on the storage's writer
// connection instead (see sqlConn); a session that ran DDL or a PRAGMA
// assignment, which may leave state on its own connection (a temporary
// table), stays on its own.
//
// BEGIN only marks the session; the transaction starts in SQLite at its
// first statement. On a writer it takes the storage's writer gate and runs
// BEGIN IMMEDIATE, so transactions serialise instead of failing on stale
// snapshots. START TRANSACTION READ ONLY, and any transaction on a reader,
// runs a deferred BEGIN on a WAL snapshot and never blocks writers. If such a
// snapshot transaction writes later (a reader promoted mid-transaction), it
// takes the gate then; should another writer have committed in between,
// SQLite reports SQLITE_BUSY_SNAPSHOT, which reaches the client as 1213 with
// the transaction rolled back, as InnoDB does for a deadlock victim.
type session struct {
	inst *Instance
	ctx  context.Context // ends when the instance is killed
	// qctx is what SQLite statements run with: a context never done on a
	// connection the interrupter can reach (see interrupt.go), else ctx,
	// bounded by StatementTimeout while a statement runs.
	qctx  context.Context
	quiet context.Context // ctx without its cancellation
	// wctx bounds Go-side waits (the writer gate) while a statement runs:
	// ctx, bounded by StatementTimeout.
	wctx      context.Context
	intr      interrupter
	stopWatch func() bool
	nc        net.Conn
	sc        *server.Conn
	own       *sqlConn // the session's own SQLite connection
	cur       *sqlConn // the connection statements run on: own, or the storage's writer
	env       rewriteEnv
	db        string

	autocommit bool
	multiOff   bool // COM_SET_OPTION turned multi-statements off
	inTxn      bool // the client sees an open transaction
	begun      bool // BEGIN was sent to SQLite
	gate       bool // holds the storage's writer gate
	txnRO      bool // START TRANSACTION READ ONLY
	pinned     bool // ran DDL: its transactions stay on its own connection

	// lastInsertID is LAST_INSERT_ID(): the id the session's last insert
	// generated, on whichever connection it ran.
	lastInsertID int64

	w       wire
	handled *mysql.Result // tells go-mysql the response is already written
}

// maxStmts bounds a session's prepared statements.
const maxStmts = 128

func newSession(inst *Instance, ctx context.Context, nc net.Conn) *session {
	s := &session{
		inst:       inst,
		ctx:        ctx,
		qctx:       ctx,
		quiet:      context.WithoutCancel(ctx),
		wctx:       ctx,
		nc:         nc,
		db:         inst.cfg.Database,
		autocommit: true,
	}
	s.stopWatch = s.intr.watch(ctx)
	s.env = rewriteEnv{database: s.db, user: inst.cfg.User, version: ServerVersion, sysVar: s.sysVar}
	// A result set that is "done streaming multiple results" makes go-mysql
	// write nothing: the session has written the response itself, in one
	// write, with the real error codes (go-mysql would turn errors of the
	// prepared path into 1105).
	s.handled = &mysql.Result{Resultset: &mysql.Resultset{
		Fields:        []*mysql.Field{{}},
		Streaming:     mysql.StreamingMultiple,
		StreamingDone: true,
	}}
	return s
}

func (s *session) attach(sc *server.Conn, conn *sqlConn) {
	s.sc, s.own, s.cur = sc, conn, conn
	s.env.connID = sc.ConnectionID()
}

// close rolls back an open transaction and returns the SQLite connection.
func (s *session) close() {
	s.stopWatch()
	if s.inTxn {
		s.inst.rollbacks.Add(1)
	}
	s.abort()
	s.own.close(false)
}

// prepared returns the statement prepared for q on the current connection,
// preparing it on first use; nil if SQLite refuses it (the caller runs the
// literal text).
func (s *session) prepared(q string) *sql.Stmt { return s.cur.prepared(s.qctx, q) }

// abort rolls back whatever SQLite transaction is open and forgets the
// client transaction. A connection whose rollback fails is discarded so an
// open transaction can never return to the pool.
func (s *session) abort() {
	if s.begun && !s.cur.rollback() {
		if s.cur == s.own {
			s.own.discard()
		} else {
			s.inst.st.dropWriter()
		}
	}
	s.endTxn()
}

func (s *session) endTxn() {
	s.releaseGate()
	s.inTxn, s.begun, s.txnRO = false, false, false
}

// use makes c the connection statements run on, for the interrupter too.
func (s *session) use(c *sqlConn) {
	s.cur = c
	s.intr.switchTo(c)
}

// releaseGate gives the writer gate back, and with it the writer connection.
func (s *session) releaseGate() {
	if s.gate {
		s.use(s.own)
		s.inst.st.release()
		s.gate = false
	}
}

func (s *session) status() uint16 {
	var st uint16
	if s.autocommit {
		st |= mysql.SERVER_STATUS_AUTOCOMMIT
	}
	if s.inTxn {
		st |= mysql.SERVER_STATUS_IN_TRANS
		if s.txnRO {
			st |= mysql.SERVER_STATUS_IN_TRANS_READONLY
		}
	}
	return st
}

// flush sends the accumulated response in one write.
func (s *session) flush() (*mysql.Result, error) {
	if len(s.w.buf) > 0 {
		if _, err := s.nc.Write(s.w.buf); err != nil {
			_ = s.nc.Close()
		}
	}
	if s.sc.Conn != nil {
		s.sc.Conn.Sequence = s.w.seq
	}
	const flags = mysql.SERVER_STATUS_AUTOCOMMIT | mysql.SERVER_STATUS_IN_TRANS | mysql.SERVER_STATUS_IN_TRANS_READONLY
	s.sc.UnsetStatus(flags)
	s.sc.SetStatus(s.status())
	return s.handled, nil
}

func (s *session) startResponse() {
	var seq uint8
	if s.sc.Conn != nil {
		seq = s.sc.Conn.Sequence
	}
	s.w.reset(seq, s.sc.Capability())
}

// fail writes an error response and counts it.
func (s *session) fail(err error) {
	me := toMySQL(err, s.db)
	s.inst.errors.Add(1)
	switch me.Code {
	case ErLockDeadlock:
		s.inst.deadlocks.Add(1)
	case ErLockWaitTimeout:
		s.inst.lockWaits.Add(1)
	case ErReadOnly:
		s.inst.roRejct.Add(1)
	}
	s.w.err(me)
}

// result is the outcome of one statement: rows, or an OK.
type result struct {
	rs       *resultSet
	affected uint64
	insertID uint64
}

// run executes one statement and writes its response. It reports false if
// the statement failed (the error is written).
func (s *session) run(st *statement, args []any, more, binaryProto bool) bool {
	s.inst.queries.Add(1)
	var res result
	var err error
	if s.cur.handle != 0 {
		res, err = s.runInterruptible(st, args)
	} else {
		res, err = s.runCancellable(st, args)
	}
	if err != nil {
		s.fail(err)
		return false
	}
	status := s.status()
	if more {
		status |= mysql.SERVER_MORE_RESULTS_EXISTS
	}
	if res.rs != nil {
		s.w.resultset(res.rs, s.db, status, binaryProto)
	} else {
		s.w.ok(res.affected, res.insertID, status)
	}
	return true
}

// UseDB handles COM_INIT_DB (and the database of the handshake).
func (s *session) UseDB(db string) error {
	if db != s.inst.cfg.Database {
		return myErr(1049, "42000", "Unknown database '"+db+"'")
	}
	s.db = db
	return nil
}

// HandleQuery handles COM_QUERY.
func (s *session) HandleQuery(q string) (*mysql.Result, error) {
	s.startResponse()
	stmts, err := s.rewrite(q)
	switch {
	case err != nil:
		s.fail(err)
	case len(stmts) == 0:
		s.w.ok(0, 0, s.status())
	case len(stmts) > 1 && (s.multiOff || s.sc.Capability()&mysql.CLIENT_MULTI_STATEMENTS == 0):
		s.fail(syntaxErr("multiple statements in one query need CLIENT_MULTI_STATEMENTS (multiStatements=true)"))
	default:
		for k := range stmts {
			if !s.run(&stmts[k], nil, k < len(stmts)-1, false) {
				break
			}
		}
	}
	return s.flush()
}

// rewrite rewrites a COM_QUERY text, through the storage's shape cache.
func (s *session) rewrite(q string) ([]statement, error) {
	key, args, ok := skeleton(q, s.env.database)
	if !ok {
		return rewrite(q, &s.env)
	}
	cache := &s.inst.st.shapes
	if sh, found := cache.get(key); found {
		if sh == nil {
			return rewrite(q, &s.env)
		}
		return sh.fill(args), nil
	}
	stmts, err := rewrite(q, &s.env)
	if err == nil {
		cache.put(key, shapeOf(q, stmts, args, func(psql string) bool { return s.prepared(psql) != nil }))
	}
	return stmts, err
}

// HandleFieldList handles COM_FIELD_LIST (deprecated; the mysql CLI uses it
// for completion).
func (s *session) HandleFieldList(table string, _ string) ([]*mysql.Field, error) {
	cols, err := s.tableColumns(table)
	if err != nil {
		return nil, toMySQL(err, s.db)
	}
	out := make([]*mysql.Field, 0, len(cols))
	for _, c := range cols {
		var col column
		col.setType(declaredType(strings.ToUpper(c.typ)))
		out = append(out, &mysql.Field{
			Schema: []byte(s.db), Table: []byte(table), OrgTable: []byte(table),
			Name: []byte(c.name), OrgName: []byte(c.name),
			Charset: col.charset, ColumnLength: col.length, Type: col.typ, Flag: col.flags,
			DefaultValue: []byte{}, // COM_FIELD_LIST responses carry a default
		})
	}
	return out, nil
}

// HandleStmtPrepare handles COM_STMT_PREPARE.
func (s *session) HandleStmtPrepare(q string) (int, int, any, error) {
	stmts, err := rewrite(q, &s.env)
	if err != nil {
		return 0, 0, nil, toMySQL(err, s.db)
	}
	switch {
	case len(stmts) == 0:
		return 0, 0, nil, myErr(1065, "42000", "Query was empty")
	case len(stmts) > 1:
		return 0, 0, nil, myErr(ErParse, "42000", "You have an error in your SQL syntax; a prepared statement holds one statement")
	}
	st := &stmts[0]
	switch st.kind {
	case kindQuery, kindDML, kindDDL, kindWriteOther, kindSavepoint:
		// Let SQLite judge syntax and names now, as MySQL does at prepare.
		ps, err := s.cur.conn.PrepareContext(s.ctx, st.sql)
		if err != nil {
			return 0, 0, nil, toMySQL(err, s.db)
		}
		_ = ps.Close()
	}
	return st.params, 0, st, nil
}

// HandleStmtExecute handles COM_STMT_EXECUTE.
func (s *session) HandleStmtExecute(ctx any, _ string, args []any) (*mysql.Result, error) {
	s.startResponse()
	st, ok := ctx.(*statement)
	if !ok {
		s.fail(myErr(ErUnknown, "HY000", "unknown prepared statement"))
		return s.flush()
	}
	conv := make([]any, len(args))
	for i, a := range args {
		conv[i] = convertArg(a)
	}
	s.run(st, conv, false, true)
	return s.flush()
}

// HandleStmtClose handles COM_STMT_CLOSE.
func (s *session) HandleStmtClose(any) error { return nil }

// HandleOtherCommand handles COM_SET_OPTION, COM_RESET_CONNECTION and refuses the rest.
func (s *session) HandleOtherCommand(cmd byte, data []byte) error {
	switch cmd {
	case mysql.COM_SET_OPTION:
		if len(data) >= 2 {
			s.multiOff = binary.LittleEndian.Uint16(data) == 1
		}
		return nil
	case mysql.COM_RESET_CONNECTION:
		if s.inTxn {
			s.inst.rollbacks.Add(1)
		}
		s.abort()
		s.autocommit = true
		return nil
	}
	return myErr(mysql.ER_UNKNOWN_COM_ERROR, "08S01", "Unknown command")
}

// convertArg turns a go-mysql parameter into an SQLite argument.
func convertArg(a any) any {
	switch v := a.(type) {
	case nil:
		return nil
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		if v > math.MaxInt64 {
			return strconv.FormatUint(v, 10)
		}
		return int64(v)
	case float32:
		return float64(v)
	case float64:
		return v
	case mysql.TypedBytes:
		switch v.Type {
		case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE, mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_TIMESTAMP:
			return decodeBinaryDate(v.Bytes)
		case mysql.MYSQL_TYPE_TIME:
			return decodeBinaryTime(v.Bytes)
		}
		return string(v.Bytes)
	case []byte:
		return append([]byte(nil), v...)
	case string:
		return v
	}
	return fmt.Sprint(a)
}

// decodeBinaryDate decodes the binary-protocol DATE/DATETIME payload.
func decodeBinaryDate(b []byte) string {
	if len(b) < 4 {
		return "0000-00-00 00:00:00"
	}
	y, mo, d := int(binary.LittleEndian.Uint16(b)), int(b[2]), int(b[3])
	if len(b) < 7 {
		return fmt.Sprintf("%04d-%02d-%02d", y, mo, d)
	}
	s := fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, b[4], b[5], b[6])
	if len(b) >= 11 {
		s += fmt.Sprintf(".%06d", binary.LittleEndian.Uint32(b[7:]))
	}
	return s
}

// decodeBinaryTime decodes the binary-protocol TIME payload.
func decodeBinaryTime(b []byte) string {
	if len(b) < 8 {
		return "00:00:00"
	}
	sign := ""
	if b[0] == 1 {
		sign = "-"
	}
	h := int(binary.LittleEndian.Uint32(b[1:]))*24 + int(b[5])
	s := fmt.Sprintf("%s%02d:%02d:%02d", sign, h, b[6], b[7])
	if len(b) >= 12 {
		s += fmt.Sprintf(".%06d", binary.LittleEndian.Uint32(b[8:]))
	}
	return s
}

// exec runs one statement.
func (s *session) exec(st *statement, args []any) (result, error) {
	switch st.kind {
	case kindEmpty, kindNoop:
		return result{}, nil
	case kindBegin:
		if s.inTxn {
			if err := s.commit(); err != nil {
				return result{}, err
			}
		}
		s.inTxn, s.begun, s.txnRO = true, false, st.txnRO
		return result{}, nil
	case kindCommit:
		return result{}, s.commit()
	case kindRollback:
		if s.inTxn {
			s.inst.rollbacks.Add(1)
		}
		s.abort()
		return result{}, nil
	case kindSet:
		return result{}, s.set(st.toks)
	case kindShow:
		rs, err := s.show(st.toks)
		return result{rs: rs}, err
	case kindUse:
		if len(st.toks) != 2 {
			return result{}, syntaxErr("USE takes one database name")
		}
		name, _ := identName(st.toks[1])
		return result{}, s.UseDB(name)
	case kindUnsupported:
		return result{}, myErr(mysql.ER_NOT_SUPPORTED_YET, "42000", "This version of MySQL doesn't yet support '"+st.verbatim+"'")
	case kindSavepoint:
		if !s.inTxn && s.autocommit {
			return result{}, nil
		}
		return s.read(st, args)
	case kindQuery:
		return s.read(st, args)
	}
	return s.write(st, args)
}

// commit ends the client transaction, committing what SQLite has.
func (s *session) commit() error {
	if !s.inTxn {
		return nil
	}
	if s.begun {
		if _, err := s.execConst("COMMIT"); err != nil {
			s.inst.rollbacks.Add(1)
			s.abort()
			return err
		}
	}
	s.inst.commits.Add(1)
	s.endTxn()
	return nil
}

// runInterruptible executes a statement with SQLite calls that only an
// interrupt ends: the instance's kill, or StatementTimeout.
func (s *session) runInterruptible(st *statement, args []any) (result, error) {
	s.qctx = s.quiet
	defer func() { s.qctx = s.ctx }()
	seq := s.intr.begin(s.cur)
	if s.ctx.Err() != nil { // killed before the watch could see this statement
		s.intr.end()
		return result{}, myErr(ErQueryInterrupted, "70100", "Query execution was interrupted")
	}
	var timer *time.Timer
	if d := s.inst.cfg.StatementTimeout; d > 0 {
		timer = time.AfterFunc(d, func() { s.intr.interrupt(seq, true) })
		var cancel context.CancelFunc
		s.wctx, cancel = context.WithTimeout(s.ctx, d)
		defer func() {
			cancel()
			s.wctx = s.ctx
		}()
	}
	res, err := s.exec(st, args)
	if timer != nil {
		timer.Stop()
	}
	if timedOut := s.intr.end(); err != nil && timedOut {
		err = errStatementTimeout()
	}
	return res, err
}

// runCancellable executes a statement with SQLite calls under a context
// that the instance's kill, or StatementTimeout, cancels.
func (s *session) runCancellable(st *statement, args []any) (result, error) {
	d := s.inst.cfg.StatementTimeout
	if d <= 0 {
		return s.exec(st, args)
	}
	var cancel context.CancelFunc
	s.qctx, cancel = context.WithTimeout(s.ctx, d)
	s.wctx = s.qctx
	defer func() {
		cancel()
		s.qctx, s.wctx = s.ctx, s.ctx
	}()
	res, err := s.exec(st, args)
	if err != nil && s.qctx.Err() == context.DeadlineExceeded && s.ctx.Err() == nil {
		err = errStatementTimeout()
	}
	return res, err
}

func errStatementTimeout() error {
	return myErr(ErStatementTimeout, "HY000", "Query execution was interrupted, maximum statement execution time exceeded")
}

// lockWait takes the storage's writer gate for this session.
func (s *session) lockWait() error {
	if s.gate {
		return nil
	}
	if err := s.inst.st.acquire(s.wctx, s.inst.cfg.LockWaitTimeout); err != nil {
		return err
	}
	s.gate = true
	// A transaction already begun on its own connection (a snapshot read
	// now writing) must finish there.
	if !s.begun && !s.pinned {
		if wc, err := s.inst.st.writerConn(s.wctx); err == nil {
			s.use(wc)
		}
	}
	return nil
}

// ensureWriter makes the open transaction a write transaction.
func (s *session) ensureWriter() error {
	if err := s.lockWait(); err != nil {
		return err
	}
	if s.begun {
		return nil
	}
	if _, err := s.execConst("BEGIN IMMEDIATE"); err != nil {
		s.inst.rollbacks.Add(1)
		s.abort()
		return err
	}
	s.begun = true
	return nil
}

// deadlocked rolls the transaction back after SQLITE_BUSY, as InnoDB rolls
// back a deadlock victim, and returns the 1213 error.
func (s *session) deadlocked() error {
	s.inst.rollbacks.Add(1)
	s.abort()
	return errDeadlock()
}

// writerTxn reports whether the open transaction may write.
func (s *session) writerTxn() bool { return !s.txnRO && !s.inst.readOnly.Load() }

func (s *session) read(st *statement, args []any) (result, error) {
	if !s.autocommit && !s.inTxn {
		s.inTxn = true
	}
	if s.inTxn {
		switch {
		case s.writerTxn() && (!s.begun || st.locking):
			if err := s.ensureWriter(); err != nil {
				return result{}, err
			}
		case !s.begun:
			if _, err := s.execConst("BEGIN"); err != nil {
				return result{}, err
			}
			s.begun = true
		}
	}
	if err := s.syncLastInsertID(st); err != nil {
		return result{}, err
	}
	var rs *resultSet
	var err error
	if ps := s.preparedFor(st, args); ps != nil {
		rs, err = s.result(ps.QueryContext(s.qctx, st.pargs...))
	} else if st.sql == "" { // from the shape cache: the values are in pargs only
		rs, err = s.result(s.cur.conn.QueryContext(s.qctx, st.psql, st.pargs...))
	} else {
		rs, err = s.result(s.cur.conn.QueryContext(s.qctx, st.sql, args...))
	}
	if err != nil {
		if s.inTxn && isBusy(err) {
			return result{}, s.deadlocked()
		}
		return result{}, err
	}
	return result{rs: rs}, nil
}

func (s *session) write(st *statement, args []any) (result, error) {
	if s.inst.readOnly.Load() {
		return result{}, errReadOnly()
	}
	if st.kind == kindDDL || st.kind == kindWriteOther {
		// DDL commits the open transaction first, as in MySQL.
		if err := s.commit(); err != nil {
			return result{}, err
		}
		s.pinned = true
		return s.autocommitWrite(st, args)
	}
	if !s.autocommit && !s.inTxn {
		s.inTxn = true
	}
	if !s.inTxn {
		return s.autocommitWrite(st, args)
	}
	if s.txnRO {
		return result{}, myErr(ErReadOnlyTxn, "25006", "Cannot execute statement in a READ ONLY transaction.")
	}
	if err := s.ensureWriter(); err != nil {
		return result{}, err
	}
	res, err := s.execSQL(st, args)
	if err != nil && isBusy(err) {
		return result{}, s.deadlocked()
	}
	return res, err
}

// autocommitWrite runs a write as its own transaction under the writer gate.
func (s *session) autocommitWrite(st *statement, args []any) (result, error) {
	if err := s.lockWait(); err != nil {
		return result{}, err
	}
	defer func() {
		if !s.inTxn {
			s.releaseGate()
		}
	}()
	if len(st.extra) == 0 {
		return s.execSQL(st, args)
	}
	// Several SQLite statements for one MySQL statement: all or nothing.
	if _, err := s.execConst("BEGIN IMMEDIATE"); err != nil {
		return result{}, err
	}
	s.begun = true
	res, err := s.execSQL(st, args)
	if err == nil {
		_, err = s.execConst("COMMIT")
	}
	if err != nil {
		s.abort()
		return result{}, err
	}
	s.begun = false
	return res, nil
}

// execSQL runs a non-row statement (and its extra statements).
func (s *session) execSQL(st *statement, args []any) (result, error) {
	if err := s.syncLastInsertID(st); err != nil {
		return result{}, err
	}
	c := s.cur
	var r sql.Result
	var err error
	if ps := s.preparedFor(st, args); ps != nil {
		r, err = ps.ExecContext(s.qctx, st.pargs...)
	} else if st.sql == "" { // from the shape cache: the values are in pargs only
		r, err = c.conn.ExecContext(s.qctx, st.psql, st.pargs...)
	} else {
		r, err = c.conn.ExecContext(s.qctx, st.sql, args...)
	}
	if err != nil {
		return result{}, err
	}
	var res result
	if n, err := r.RowsAffected(); err == nil && n > 0 {
		res.affected = uint64(n)
	}
	if st.insert && res.affected > 0 {
		// last_insert_rowid() changes only when an insert generated a
		// rowid: unchanged, the table has no AUTO_INCREMENT column (the id
		// MySQL reports is then 0).
		if id, err := r.LastInsertId(); err == nil && id != c.rowid {
			c.rowid = id
			if id > 0 {
				res.insertID = uint64(id)
				s.lastInsertID = id
			}
		}
	}
	for _, x := range st.extra {
		if _, err := c.conn.ExecContext(s.qctx, x); err != nil {
			return result{}, err
		}
	}
	return res, nil
}

// syncLastInsertID gives a statement that reads LAST_INSERT_ID() the
// session's value, wherever its last insert ran.
func (s *session) syncLastInsertID(st *statement) error {
	if !st.lastID {
		return nil
	}
	return s.cur.setLastInsertID(s.qctx, s.lastInsertID)
}

// execConst runs a constant statement (BEGIN, COMMIT) prepared once.
func (s *session) execConst(q string) (sql.Result, error) {
	if ps := s.prepared(q); ps != nil {
		return ps.ExecContext(s.qctx)
	}
	return s.cur.conn.ExecContext(s.qctx, q)
}

// preparedFor is the prepared form of a statement that takes no values of
// the client's: a literal DML or SELECT statement's parametrized form, or,
// for a SELECT whose literals must stay (a LIMIT, a constant column), its
// exact text (the relay's outbox poll and its read-only check, a fifth of
// the ledger's SELECTs at 300 payments/s, were prepared anew on every run);
// or nil. PRAGMA and EXPLAIN are left out: some pragmas act when prepared.
func (s *session) preparedFor(st *statement, args []any) *sql.Stmt {
	switch {
	case len(args) > 0:
		return nil
	case st.psql != "":
		return s.prepared(st.psql)
	case st.selects && st.sql != "" && st.params == 0 && len(st.extra) == 0:
		return s.prepared(st.sql)
	}
	return nil
}

// result reads the rows of a statement that may return some. It returns
// nil when the statement has no result columns.
func (s *session) result(rows *sql.Rows, err error) (*resultSet, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	n := len(cts)
	if n == 0 {
		for rows.Next() {
		}
		return nil, rows.Err()
	}
	rs := &resultSet{cols: make([]column, n)}
	declared := make([]string, n)
	for i, ct := range cts {
		rs.cols[i].name = ct.Name()
		declared[i] = strings.ToUpper(ct.DatabaseTypeName())
	}
	ptrs := make([]any, n)
	for rows.Next() {
		row := make([]any, n)
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		rs.rows = append(rs.rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rs.typeCols(declared)
	return rs, nil
}
