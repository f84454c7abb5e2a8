package check

import (
	"maps"
	"slices"
	"testing"
)

func TestPaymentsTable(t *testing.T) {
	pay := func(id, key string, amount int64) Payment {
		return Payment{ID: id, Key: key, Kind: "payment", From: "u-1", To: "m-1", Amount: amount, Status: "committed"}
	}
	tests := []struct {
		name   string
		build  func(ps *Payments)
		byKey  map[string][]string // keys to look up and the ids they must give
		shared map[string][]string
		len    int
	}{
		{"one row per key", func(ps *Payments) {
			ps.Put(pay("a", "k1", 1))
			ps.Put(pay("b", "k2", 2))
		}, map[string][]string{"k1": {"a"}, "k2": {"b"}, "nope": nil}, map[string][]string{}, 2},
		{"a key held twice", func(ps *Payments) {
			ps.Put(pay("a", "k", 1))
			ps.Put(pay("b", "k", 2))
		}, map[string][]string{"k": {"a", "b"}}, map[string][]string{"k": {"a", "b"}}, 2},
		{"replacing a row moves its key", func(ps *Payments) {
			ps.Put(pay("a", "k", 1))
			ps.Put(pay("b", "k", 2))
			ps.Put(pay("a", "k2", 3))
		}, map[string][]string{"k": {"b"}, "k2": {"a"}}, map[string][]string{}, 2},
		{"deleting the first of a shared key", func(ps *Payments) {
			ps.Put(pay("a", "k", 1))
			ps.Put(pay("b", "k", 2))
			ps.Put(pay("c", "k", 3))
			ps.Delete("a")
			ps.Delete("zzz")
		}, map[string][]string{"k": {"b", "c"}}, map[string][]string{"k": {"b", "c"}}, 2},
		{"deleting every row", func(ps *Payments) {
			ps.Put(pay("a", "k", 1))
			ps.Delete("a")
		}, map[string][]string{"k": nil}, map[string][]string{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := NewPayments(0)
			tc.build(ps)
			if ps.Len() != tc.len {
				t.Errorf("Len %d, want %d", ps.Len(), tc.len)
			}
			for key, want := range tc.byKey {
				if got := ps.ByKey(key); !slices.Equal(got, want) {
					t.Errorf("ByKey(%s) = %v, want %v", key, got, want)
				}
			}
			if got := maps.Collect(ps.SharedKeys()); !maps.EqualFunc(got, tc.shared, slices.Equal) {
				t.Errorf("SharedKeys %v, want %v", got, tc.shared)
			}
			n := 0
			for id, p := range ps.All() {
				n++
				if got, ok := ps.Get(id); !ok || got != p || p.ID != id || p.Kind != "payment" || p.To != "m-1" {
					t.Errorf("All yields %s %+v, Get gives %+v", id, p, got)
				}
			}
			if n != tc.len {
				t.Errorf("All yields %d rows, want %d", n, tc.len)
			}
		})
	}
	ps := NewPayments(0)
	ps.Put(pay("a", "k", 1))
	cl := ps.Clone()
	cl.Put(pay("a", "k", 99))
	cl.Put(pay("b", "k", 2))
	if p, _ := ps.Get("a"); p.Amount != 1 || ps.Has("b") || len(ps.ByKey("k")) != 1 {
		t.Errorf("a clone's writes reached the original: %+v, %v", p, ps.ByKey("k"))
	}
	var none *Payments
	if none.Len() != 0 || none.Has("a") || none.ByKey("k") != nil || none.KeyCount() != 0 {
		t.Error("a nil table is not empty")
	}
}
