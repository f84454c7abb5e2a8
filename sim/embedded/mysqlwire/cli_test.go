package mysqlwire

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMariaDBCLI drives the real mariadb/mysql command-line client against
// an instance: the statements a person types, and its own status queries.
func TestMariaDBCLI(t *testing.T) {
	bin, err := exec.LookPath("mariadb")
	if err != nil {
		if bin, err = exec.LookPath("mysql"); err != nil {
			t.Skip("no mariadb or mysql client on PATH")
		}
	}
	st := newStorage(t, StorageOptions{})
	inst := newInstance(t, st, Config{Password: "pw"})
	host, port, _ := net.SplitHostPort(inst.Addr())
	run := func(t *testing.T, extra []string, input string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args := append([]string{"--no-defaults", "-h", host, "-P", port, "-u", "root", "-ppw"}, extra...)
		cmd := exec.CommandContext(ctx, bin, append(args, "paysim")...)
		cmd.Stdin = strings.NewReader(input)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", bin, err, out)
		}
		return string(out)
	}
	script := `CREATE TABLE cli (id BIGINT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(20) NOT NULL, at DATETIME DEFAULT NOW()) ENGINE=InnoDB;
INSERT INTO cli (name) VALUES ('a'), ('b\'s');
SELECT id, name FROM cli ORDER BY id;
SHOW TABLES;
DESCRIBE cli;
SELECT @@version, DATABASE(), NOW() IS NOT NULL AS has_now;
BEGIN; INSERT INTO cli (name) VALUES ('rolled'); ROLLBACK;
SELECT COUNT(*) AS n FROM cli;
`
	out := run(t, []string{"--batch"}, script)
	t.Logf("batch output:\n%s", out)
	for _, want := range []string{"id\tname\n1\ta\n2\tb's\n", "Tables_in_paysim\ncli\n", "id\tinteger\tNO\tPRI", ServerVersion + "\tpaysim\t1", "n\n2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	status := run(t, []string{"-e", "status"}, "")
	t.Logf("status output:\n%s", status)
	if !strings.Contains(status, ServerVersion) {
		t.Errorf("status lacks the server version")
	}
}
