//go:build unix

package mysqlwire

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func describe(fi os.FileInfo, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d bytes", fi.Size())
}

func TestMemFile(t *testing.T) {
	pattern := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i%251)
		}
		return b
	}
	tests := []struct {
		name string
		run  func(t *testing.T, f *memFile)
	}{
		{"write across a chunk boundary reads back", func(t *testing.T, f *memFile) {
			want := pattern(3*4096+24, 7)
			if !f.write(want, memChunk-100) {
				t.Fatal("write failed")
			}
			got := make([]byte, len(want))
			if n := f.read(got, memChunk-100); n != len(want) || !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, equal %v", n, bytes.Equal(got, want))
			}
			if f.size != memChunk-100+int64(len(want)) {
				t.Fatalf("size %d", f.size)
			}
		}},
		{"a read past the end is short and zero-filled", func(t *testing.T, f *memFile) {
			f.write([]byte("abc"), 0)
			got := []byte("xxxxxx")
			if n := f.read(got, 1); n != 2 || string(got) != "bc\x00\x00\x00\x00" {
				t.Fatalf("read %d %q", n, got)
			}
			if n := f.read(got, 10); n != 0 || !bytes.Equal(got, make([]byte, 6)) {
				t.Fatalf("read past the end %d %q", n, got)
			}
		}},
		{"a hole reads as zeros", func(t *testing.T, f *memFile) {
			f.write([]byte("z"), 2*memChunk+5)
			got := make([]byte, 8)
			if n := f.read(got, memChunk); n != 8 || !bytes.Equal(got, make([]byte, 8)) {
				t.Fatalf("hole read %d %q", n, got)
			}
		}},
		{"truncate then grow reads zeros where data was", func(t *testing.T, f *memFile) {
			f.write(pattern(2*memChunk, 1), 0)
			f.truncate(memChunk + 10)
			if f.size != memChunk+10 || len(f.chunks) != 2 {
				t.Fatalf("size %d chunks %d", f.size, len(f.chunks))
			}
			f.write([]byte("q"), 2*memChunk-1)
			got := make([]byte, 20)
			f.read(got, memChunk+5)
			want := append(pattern(memChunk+10, 1)[memChunk+5:], make([]byte, 15)...)
			if !bytes.Equal(got, want) {
				t.Fatalf("after truncate and grow %q, want %q", got, want)
			}
			f.truncate(0)
			if f.size != 0 || len(f.chunks) != 0 {
				t.Fatalf("truncate 0: size %d chunks %d", f.size, len(f.chunks))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &memFile{refs: 1}
			t.Cleanup(f.unref)
			tt.run(t, f)
		})
	}
}

// TestMemoryWAL: a storage opened with MemoryWAL keeps its WAL in memory
// (the WAL file on disk stays empty) with SQLite's WAL concurrency intact
// (a reader's snapshot, a writer beside it), holds more than a chunk, gets
// its pages into the database file at a checkpoint, and releases the
// memory when it closes.
func TestMemoryWAL(t *testing.T) {
	if registerMemVFS() == "" {
		t.Skip("no memory VFS here (unix-excl missing)")
	}
	before := memFilesOpen()
	path := filepath.Join(t.TempDir(), "ledger.db")
	st, err := OpenStorageWith(path, StorageOptions{MemoryWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = st.Close()
		}
	})
	ctx := context.Background()
	db := st.DB()
	mustExec := func(c interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}, q string, args ...any) {
		t.Helper()
		if _, err := c.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
	blob := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	for i := range 40 {                                    // 2.5 MiB: several chunks
		mustExec(db, "INSERT INTO t (id, v) VALUES (?, ?)", i, blob)
	}
	reader, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	tx, err := reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	count := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) (n int) {
		t.Helper()
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(tx); n != 40 {
		t.Fatalf("reader sees %d rows, want 40", n)
	}
	mustExec(db, "INSERT INTO t (id, v) VALUES (40, ?)", blob) // a writer beside the open snapshot
	if n := count(tx); n != 40 {
		t.Fatalf("the reader's snapshot moved: %d rows", n)
	}
	_ = tx.Rollback()
	if n := count(db); n != 41 {
		t.Fatalf("after the write %d rows, want 41", n)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Errorf("the WAL file on disk after 41 commits: %v, want it empty (its frames in memory)", describe(fi, err))
	}
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := db.QueryRowContext(ctx, "SELECT sum(length(v)) FROM t WHERE v = ?", blob).Scan(&sum); err != nil || sum != 41*len(blob) {
		t.Fatalf("after a checkpoint: %d bytes equal (%v), want %d", sum, err, 41*len(blob))
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() < int64(41*len(blob)) {
		t.Errorf("the database file after a checkpoint: %v, want the rows in it", err)
	}
	if memFilesOpen() <= before {
		t.Fatal("no memory file is open")
	}
	reader.Close()
	closed = true
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if n := memFilesOpen(); n != before {
		t.Fatalf("%d memory files after close, want %d", n, before)
	}
}
