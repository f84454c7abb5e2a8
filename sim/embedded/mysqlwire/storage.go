package mysqlwire

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Storage is the shared cluster volume (Aurora-like): one SQLite database
// file in WAL mode that every Instance serves. Committed data lives here, so
// it survives the loss of any instance.
type Storage struct {
	db   *sql.DB
	path string
	// gate serialises writers across every instance on this storage. SQLite
	// has one write lock per file; waiting for it in Go (FIFO-ish, no sleep
	// polling as SQLite's busy handler does) keeps throughput up under
	// contention and makes lock waits cancellable.
	gate chan struct{}
	// writer is the connection write transactions run on (writerConn);
	// only the gate's holder touches it.
	writer *sqlConn
	// shapes holds rewritten query shapes for every instance's sessions.
	shapes shapeCache
}

// StorageOptions tunes OpenStorageWith. The zero value gives the defaults.
type StorageOptions struct {
	// BusyTimeout is SQLite's busy_timeout for connections (default 5s). It
	// matters when something writes past the instances (DB() users): an
	// instance statement then waits this long for the file lock before
	// failing with 1213.
	BusyTimeout time.Duration
	// MaxIdleConns is the number of idle SQLite connections kept ready for new
	// client connections (default 32).
	MaxIdleConns int
	// SyncFull selects synchronous=FULL (survives power loss) instead of
	// OFF, which survives process crashes (the failure paysim models) and
	// never calls fsync: under NORMAL a checkpoint's fsync ran inside the
	// writer gate and stalled every payment for up to 0.5 s on ext4.
	SyncFull bool
	// MemoryWAL holds the write-ahead log in this process's memory (the
	// memory VFS, on Unix) instead of its file, which stays empty: every
	// page a commit writes and a reader finds there is then a copy, not a
	// system call. Checkpoints still write the pages into the database
	// file. The WAL does not outlive the process: for a database that need
	// not survive a crash of it (the embedded stack's, in a directory
	// removed on exit).
	MemoryWAL bool
}

// cacheKiB is each SQLite connection's page cache.
const cacheKiB = 512

// OpenStorage opens (creating if needed) the shared database file at path in
// WAL mode with default options.
func OpenStorage(path string) (*Storage, error) {
	return OpenStorageWith(path, StorageOptions{})
}

// OpenStorageWith opens the shared database file at path with options.
func OpenStorageWith(path string, opt StorageOptions) (*Storage, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		return nil, errors.New("open storage: a file path is required (instances share it)")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open storage: path %q must not contain '?' or '#'", path)
	}
	if opt.BusyTimeout <= 0 {
		opt.BusyTimeout = 5 * time.Second
	}
	if opt.MaxIdleConns <= 0 {
		opt.MaxIdleConns = 32
	}
	sync := "OFF"
	if opt.SyncFull {
		sync = "FULL"
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opt.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous("+sync+")")
	// A connection's page cache is dropped whenever another connection has
	// written, which at hundreds of commits a second is every transaction:
	// SQLite's 2 MB default per connection only held memory (about 60 MB
	// outside the Go heap with the stack's ~80 sessions). 512 KiB still
	// holds a transaction's pages.
	q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -cacheKiB))
	q.Set("_journal_mode", "WAL")
	vfs := ledgerVFS
	if opt.MemoryWAL {
		if m := registerMemVFS(); m != "" {
			vfs = m
		}
	}
	if vfs != "" {
		q.Set("vfs", vfs)
	}
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	db.SetMaxIdleConns(opt.MaxIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open storage: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		_ = db.Close()
		return nil, fmt.Errorf("open storage: journal_mode is %q, want wal", mode)
	}
	return &Storage{db: db, path: path, gate: make(chan struct{}, 1)}, nil
}

// DB gives direct access to the database, for checkers and tests. Writes
// through it bypass the instances (no read-only check, no writer gate).
func (s *Storage) DB() *sql.DB { return s.db }

// Path is the database file.
func (s *Storage) Path() string { return s.path }

// Close closes the database. Instances using the storage must be closed first.
func (s *Storage) Close() error {
	if s.acquire(context.Background(), time.Second) == nil {
		if s.writer != nil {
			s.writer.close(false)
			s.writer = nil
		}
		s.release()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close storage: %w", err)
	}
	return nil
}

// errLockWait is returned when the writer gate could not be acquired in time.
var errLockWait = errors.New("lock wait timeout")

// acquire takes the writer gate, waiting at most timeout or until ctx ends.
func (s *Storage) acquire(ctx context.Context, timeout time.Duration) error {
	select {
	case s.gate <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case s.gate <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errLockWait
	}
}

// release gives the writer gate back.
func (s *Storage) release() { <-s.gate }

// writerConn returns the connection every write transaction runs on,
// opening it on first use. Only the gate's holder may call it and use the
// connection, until it releases the gate.
func (s *Storage) writerConn(ctx context.Context) (*sqlConn, error) {
	if s.writer == nil {
		c, err := newSQLConn(ctx, s.db)
		if err != nil {
			return nil, fmt.Errorf("writer connection: %w", err)
		}
		s.writer = c
	}
	return s.writer, nil
}

// dropWriter discards the writer connection after a failed rollback; the
// next writer opens a fresh one. Gate holder only.
func (s *Storage) dropWriter() {
	if s.writer != nil {
		s.writer.close(true)
		s.writer = nil
	}
}
