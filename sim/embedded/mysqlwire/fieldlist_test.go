package mysqlwire

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
)

// TestFieldList uses go-mysql's client for COM_FIELD_LIST (the mysql CLI's
// table completion) and COM_INIT_DB.
func TestFieldList(t *testing.T) {
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{})
	c, err := client.Connect(inst.Addr(), "root", "", "paysim")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Execute("CREATE TABLE f (id BIGINT PRIMARY KEY, name VARCHAR(10), amount DOUBLE)"); err != nil {
		t.Fatal(err)
	}
	fields, err := c.FieldList("f", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fields {
		names = append(names, string(f.Name))
	}
	if len(names) != 3 || names[0] != "id" || names[2] != "amount" {
		t.Fatalf("fields = %v", names)
	}
	if _, err := c.FieldList("missing", ""); err == nil {
		t.Fatal("field list of a missing table succeeded")
	}
	if err := c.UseDB("nope"); err == nil {
		t.Fatal("USE of an unknown database succeeded")
	}
	if err := c.UseDB("paysim"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Execute("SELECT name FROM f WHERE id = ?", 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.RowNumber() != 0 {
		t.Fatalf("rows = %d", r.RowNumber())
	}
}
