// Package mysqlwire is a MySQL wire-protocol server over SQLite, modelled on
// Aurora MySQL: one shared storage volume (a SQLite database file in WAL
// mode) served by several DB instances, one writer and readers. Only this
// process opens the file (SQLite's unix-excl VFS); with
// StorageOptions.MemoryWAL its WAL lives in the process's memory
// (memvfs.go).
//
// Clients speak the real MySQL protocol (go-sql-driver/mysql, the mysql and
// mariadb CLIs). Each client connection gets its own SQLite connection, so
// transactions are per wire connection; a dropped connection rolls back.
// MySQL statements are rewritten into SQLite dialect by a small token-based
// rewriter (FOR UPDATE, AUTO_INCREMENT, inline KEYs, table options, INSERT
// IGNORE, ON DUPLICATE KEY UPDATE, NOW(), backslash escapes...); a table
// keyed by a primary key other than an AUTO_INCREMENT column is created
// WITHOUT ROWID, clustered on its key as InnoDB clusters rows. SQLite
// errors are mapped to MySQL errors: busy/locked -> 1213 (retry as on a
// deadlock), unique/primary key -> 1062, syntax -> 1064, others -> 1105.
//
// Writers are serialised by one gate per Storage (SQLite has one writer per
// file): a transaction on the writer takes it at its first statement (BEGIN
// IMMEDIATE) and holds it until COMMIT/ROLLBACK; autocommit writes take it
// per statement; reads outside write transactions never wait (WAL
// snapshots). Isolation is therefore serializable: lost-update anomalies
// that MySQL's REPEATABLE READ allows cannot happen here. While a session
// holds the gate for a transaction that began as a write, it runs on the
// storage's one writer connection, whose page cache no other commit drops;
// LAST_INSERT_ID() stays per session, and a session that ran DDL keeps
// writing on its own connection (a temporary table lives there).
package mysqlwire
