package mysqlwire

import (
	"context"
	"database/sql"
	"testing"
)

// TestStorageConnectionSettings: every pooled SQLite connection runs in WAL
// mode, without fsync unless asked, with foreign keys and a small page cache.
func TestStorageConnectionSettings(t *testing.T) {
	tests := []struct {
		name   string
		opt    StorageOptions
		pragma string
		want   string
	}{
		{"wal", StorageOptions{}, "journal_mode", "wal"},
		{"no fsync", StorageOptions{}, "synchronous", "0"},
		{"fsync when asked", StorageOptions{SyncFull: true}, "synchronous", "2"},
		{"foreign keys", StorageOptions{}, "foreign_keys", "1"},
		{"small page cache", StorageOptions{}, "cache_size", "-512"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStorage(t, tc.opt)
			ctx := context.Background()
			// Two connections held at once: the settings hold for each.
			conns := make([]*sql.Conn, 2)
			for i := range conns {
				c, err := st.DB().Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Close() })
				conns[i] = c
			}
			for i, c := range conns {
				var got string
				if err := c.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil || got != tc.want {
					t.Errorf("connection %d: PRAGMA %s = %q (%v), want %q", i, tc.pragma, got, err, tc.want)
				}
			}
		})
	}
}
