package mysqlwire

import (
	"context"
	"errors"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"modernc.org/sqlite"
)

// MySQL error numbers this server produces (see also the go-mysql constants).
const (
	ErDupEntry          = 1062 // duplicate key, SQLSTATE 23000
	ErParse             = 1064 // syntax error, SQLSTATE 42000
	ErLockWaitTimeout   = 1205 // writer lock not acquired in time, SQLSTATE HY000
	ErLockDeadlock      = 1213 // SQLite busy/locked: retry the transaction, SQLSTATE 40001
	ErReadOnly          = 1290 // write on a read-only instance, SQLSTATE HY000
	ErReadOnlyTxn       = 1792 // write inside START TRANSACTION READ ONLY, SQLSTATE 25006
	ErQueryInterrupted  = 1317 // instance killed during the statement, SQLSTATE 70100
	ErStatementTimeout  = 3024 // Config.StatementTimeout exceeded, SQLSTATE HY000
	ErUnknown           = 1105 // anything else, SQLSTATE HY000
	ErTooManyConnection = 1040 // MaxConnections reached, SQLSTATE 08004
)

const readOnlyMsg = "The MySQL server is running with the --read-only option so it cannot execute this statement"

func myErr(code uint16, state, msg string) *mysql.MyError {
	return &mysql.MyError{Code: code, State: state, Message: msg}
}

func errDeadlock() *mysql.MyError {
	return myErr(ErLockDeadlock, "40001", "Deadlock found when trying to get lock; try restarting transaction")
}

func errReadOnly() *mysql.MyError { return myErr(ErReadOnly, "HY000", readOnlyMsg) }

// SQLite result codes used in the mapping (extended codes are enabled).
const (
	sqliteError          = 1
	sqliteBusy           = 5
	sqliteLocked         = 6
	sqliteReadOnly       = 8
	sqliteInterrupt      = 9
	sqliteFull           = 13
	sqliteConstraint     = 19
	sqliteCheck          = 275
	sqliteForeignKey     = 787
	sqliteNotNull        = 1299
	sqlitePrimaryKey     = 1555
	sqliteUnique         = 2067
	sqliteBusySnapshot   = 517
	sqliteLockedShared   = 262
	sqliteBusyRecovery   = 261
	sqliteBusyTimeoutExt = 773
)

// sqliteCode returns the (extended) SQLite result code of err, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// isBusy reports whether err is SQLITE_BUSY/SQLITE_LOCKED in any variant.
func isBusy(err error) bool {
	c := sqliteCode(err) & 0xff
	return c == sqliteBusy || c == sqliteLocked
}

// sqliteMessage strips the driver decoration from an SQLite error message.
func sqliteMessage(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, " ("); i > 0 && strings.HasSuffix(msg, ")") {
		msg = msg[:i]
	}
	for _, p := range []string{"SQL logic error: ", "constraint failed: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// toMySQL maps any error of the execution path to a MySQL error.
func toMySQL(err error, database string) *mysql.MyError {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return me
	}
	var se *errSyntax
	if errors.As(err, &se) {
		return myErr(ErParse, "42000", "You have an error in your SQL syntax; "+se.msg)
	}
	if errors.Is(err, errLockWait) {
		return myErr(ErLockWaitTimeout, "HY000", "Lock wait timeout exceeded; try restarting transaction")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return myErr(ErQueryInterrupted, "70100", "Query execution was interrupted")
	}
	code := sqliteCode(err)
	if code == 0 {
		return myErr(ErUnknown, "HY000", err.Error())
	}
	msg := sqliteMessage(err)
	switch code {
	case sqliteUnique, sqlitePrimaryKey:
		key := strings.TrimSpace(strings.TrimPrefix(msg, "UNIQUE constraint failed:"))
		if i := strings.IndexByte(key, '.'); i > 0 && code == sqlitePrimaryKey {
			key = key[:i] + ".PRIMARY"
		}
		return myErr(ErDupEntry, "23000", "Duplicate entry for key '"+key+"' ("+msg+")")
	case sqliteNotNull:
		col := strings.TrimSpace(strings.TrimPrefix(msg, "NOT NULL constraint failed:"))
		if i := strings.LastIndexByte(col, '.'); i >= 0 {
			col = col[i+1:]
		}
		return myErr(1048, "23000", "Column '"+col+"' cannot be null")
	case sqliteForeignKey:
		return myErr(1452, "23000", "Cannot add or update a child row: a foreign key constraint fails ("+msg+")")
	case sqliteCheck:
		return myErr(3819, "HY000", "Check constraint is violated ("+msg+")")
	}
	switch code & 0xff {
	case sqliteBusy, sqliteLocked:
		return errDeadlock()
	case sqliteReadOnly:
		return errReadOnly()
	case sqliteInterrupt:
		return myErr(ErQueryInterrupted, "70100", "Query execution was interrupted")
	case sqliteFull:
		return myErr(1114, "HY000", "The table is full")
	case sqliteConstraint:
		return myErr(ErUnknown, "23000", msg)
	case sqliteError:
		switch {
		case strings.Contains(msg, "syntax error") || strings.Contains(msg, "incomplete input") ||
			strings.Contains(msg, "unrecognized token") || strings.Contains(msg, "malformed"):
			return myErr(ErParse, "42000", "You have an error in your SQL syntax; "+msg)
		case strings.HasPrefix(msg, "no such table: "):
			return myErr(1146, "42S02", "Table '"+database+"."+strings.TrimPrefix(msg, "no such table: ")+"' doesn't exist")
		case strings.HasPrefix(msg, "no such column: "):
			return myErr(1054, "42S22", "Unknown column '"+strings.TrimPrefix(msg, "no such column: ")+"' in 'field list'")
		case strings.HasPrefix(msg, "table ") && strings.HasSuffix(msg, " already exists"):
			name := strings.TrimSuffix(strings.TrimPrefix(msg, "table "), " already exists")
			return myErr(1050, "42S01", "Table '"+name+"' already exists")
		case strings.HasPrefix(msg, "no such function: "):
			return myErr(1305, "42000", "FUNCTION "+database+"."+strings.TrimPrefix(msg, "no such function: ")+" does not exist")
		case strings.HasPrefix(msg, "duplicate column name: "):
			return myErr(1060, "42S21", "Duplicate column name '"+strings.TrimPrefix(msg, "duplicate column name: ")+"'")
		}
	}
	return myErr(ErUnknown, "HY000", msg)
}
