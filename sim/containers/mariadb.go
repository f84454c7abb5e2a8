package containers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"paysim/sim"
)

// MariaDB accounts besides the application's (Topology.MySQL.User): the
// control plane's administrator and the replication user. Their passwords
// are fixed: the ports are published on 127.0.0.1 only.
const (
	adminUser    = "paysim_admin"
	adminPass    = "paysim-admin"
	replUser     = "paysim_repl"
	replPass     = "paysim-repl"
	mysqlPort    = "3306/tcp"
	mysqlPortNum = 3306
)

// SlaveNetTimeout is the replicas' slave_net_timeout: how long a replica
// waits on a silent primary before it reconnects (heartbeats come every
// half of it). MariaDB's default, 60 s, would hide a cut link for a minute.
const SlaveNetTimeout = 4 * time.Second

// SemiSyncTimeout is how long a commit on the writer waits for a replica's
// acknowledgement before semi-sync turns itself off and the commit goes on
// alone. An Aurora writer without its storage quorum never commits; here
// such a commit shows once the wait ends, before a fence can come (setting
// read_only waits for it), so the outbox relay publishes only while
// semi-sync is on (payments.Config.SemiSyncWriter).
const SemiSyncTimeout = 2 * time.Second

// mariadbScript starts mariadbd in the container: it initialises the data
// directory on first start when the image has none (the official images),
// then runs the server with paysim's settings, every one on the command line
// (--no-defaults: the image's configuration files do not matter). The binary
// log, GTID strict mode and log_slave_updates are on everywhere so that any
// replica can be promoted and the others repointed at it by GTID.
func mariadbScript(serverID int, readOnly bool) string {
	ro := "OFF"
	if readOnly {
		ro = "ON"
	}
	args := []string{
		"--no-defaults", "--user=mysql", "--datadir=/var/lib/mysql",
		"--socket=/run/mysqld/mysqld.sock", "--pid-file=/run/mysqld/mysqld.pid",
		fmt.Sprintf("--port=%d", mysqlPortNum), "--bind-address=0.0.0.0", "--skip-name-resolve",
		fmt.Sprintf("--server-id=%d", serverID), "--log-basename=mariadb", "--log-bin",
		"--binlog-format=ROW", "--log-slave-updates", "--gtid-strict-mode=ON",
		fmt.Sprintf("--slave-net-timeout=%d", int(SlaveNetTimeout/time.Second)),
		"--read-only=" + ro,
		// Semi-sync after the binary log sync: a commit is acknowledged only
		// once a replica has it, so promoting the most advanced replica
		// loses no acknowledged write. A commit waits for a replica for up
		// to SemiSyncTimeout even when none is connected (then semi-sync
		// is off until one catches up): a writer cut off from its replicas
		// sees them go before the control plane fences it, and without the
		// wait it committed in-flight transactions there at once, visible
		// while still writable, so the outbox relay beside it published
		// events of payments the failover then lost (az-isolation, 2 of 4
		// runs). The wait only delays that: the relay also checks that
		// semi-sync is on (see SemiSyncTimeout).
		"--rpl-semi-sync-master-enabled=ON", "--rpl-semi-sync-slave-enabled=ON",
		"--rpl-semi-sync-master-wait-point=AFTER_SYNC", fmt.Sprintf("--rpl-semi-sync-master-timeout=%d", SemiSyncTimeout.Milliseconds()),
		"--rpl-semi-sync-master-wait-no-slave=ON",
		"--init-file=" + mysqlInitPath,
		"--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
		"--performance-schema=OFF", "--innodb-buffer-pool-size=64M", "--max-connections=512",
	}
	return `set -e
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
if [ ! -d /var/lib/mysql/mysql ]; then
  mkdir -p /var/lib/mysql && chown mysql:mysql /var/lib/mysql
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
fi
exec mariadbd ` + strings.Join(args, " ") + "\n"
}

// mysqlInitPath is where the init file goes in the container.
const mysqlInitPath = "/etc/paysim-mysql-init.sql"

// mysqlInitSQL creates the database and the accounts on every start of
// every node, locally (sql_log_bin=0: not replicated, so that a replica's
// own copy never collides with its primary's). The application's account
// has no SUPER or READ ONLY ADMIN: read_only stops its writes on replicas.
func mysqlInitSQL(user, pass, db string) string {
	q := func(s string) string { return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'" }
	id := func(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
	return strings.Join([]string{
		"SET sql_log_bin = 0",
		"CREATE DATABASE IF NOT EXISTS " + id(db),
		"CREATE USER IF NOT EXISTS " + q(user) + "@'%' IDENTIFIED BY " + q(pass),
		"GRANT ALL PRIVILEGES ON " + id(db) + ".* TO " + q(user) + "@'%'",
		"CREATE USER IF NOT EXISTS " + q(adminUser) + "@'%' IDENTIFIED BY " + q(adminPass),
		"GRANT ALL PRIVILEGES ON *.* TO " + q(adminUser) + "@'%' WITH GRANT OPTION",
		"CREATE USER IF NOT EXISTS " + q(replUser) + "@'%' IDENTIFIED BY " + q(replPass),
		"GRANT REPLICATION SLAVE ON *.* TO " + q(replUser) + "@'%'",
		"",
	}, ";\n")
}

// dsn is a connection configuration for addr; the driver's own log lines
// (a server that is not up yet) are dropped.
func dsn(user, pass, addr, db string, timeout time.Duration) *mysql.Config {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = user, pass, "tcp", addr, db
	c.InterpolateParams = true
	c.Timeout, c.ReadTimeout, c.WriteTimeout = timeout, timeout, timeout
	c.Logger = quietLogger{}
	return c
}

type quietLogger struct{}

func (quietLogger) Print(...any) {}

func openDB(c *mysql.Config) (*sql.DB, error) {
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	return db, nil
}

// mysqlReady is the MariaDB readiness wait strategy: the application's
// account can log in over the published port and run a query, which means
// the server is up and its init file has run. It fails at once if the
// container exits.
type mysqlReady struct {
	user, pass, db string
	timeout        time.Duration
}

var _ wait.Strategy = mysqlReady{}

// WaitUntilReady implements wait.Strategy.
func (m mysqlReady) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	host, err := target.Host(ctx)
	if err != nil {
		return err
	}
	port, err := target.MappedPort(ctx, mysqlPort)
	if err != nil {
		return fmt.Errorf("mysql port: %w", err)
	}
	db, err := openDB(dsn(m.user, m.pass, fmt.Sprintf("%s:%d", host, port.Num()), m.db, 2*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if _, last = db.ExecContext(ctx, "SELECT 1"); last == nil {
			return nil
		}
		st, err := target.State(ctx)
		if err == nil && !st.Running {
			return fmt.Errorf("mariadb exited with code %d before it was ready", st.ExitCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mariadb not ready: %w (last: %v)%s", ctx.Err(), last, logTail(target, 8))
		case <-tick.C:
		}
	}
}

// mysqlRequest is the container request of one MariaDB node.
func mysqlRequest(script, initSQL string, ready wait.Strategy) []testcontainers.ContainerCustomizer {
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithEntrypoint("sh", "-c", script),
		testcontainers.WithCmd("paysim-mariadb"), // the script's $0
		withFile(mysqlInitPath, initSQL),
		testcontainers.WithWaitStrategy(ready),
		dataVolume("/var/lib/mysql"),
	}
}

// startReplication points a replica at the primary by GTID (from the
// replica's own slave position, i.e. from the start on a new replica) and
// waits until both replication threads run.
func startReplication(ctx context.Context, replicaAddr, primaryHost string) error {
	db, err := openDB(dsn(adminUser, adminPass, replicaAddr, "", 5*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	stmts := []struct {
		q    string
		args []any
	}{
		{"STOP SLAVE", nil},
		{`CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?,
			MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1`, []any{primaryHost, mysqlPortNum, replUser, replPass}},
		{"START SLAVE", nil},
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s.q, s.args...); err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(s.q)[0], err)
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := slaveStatus(ctx, db)
		if err != nil {
			return err
		}
		if st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication not running (io %s, sql %s, last error %q): %w",
				st["Slave_IO_Running"], st["Slave_SQL_Running"], st["Last_IO_Error"]+st["Last_SQL_Error"], ctx.Err())
		case <-tick.C:
		}
	}
}

// slaveStatus returns SHOW SLAVE STATUS as column -> value (empty when the
// node replicates from nobody).
func slaveStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, fmt.Errorf("slave status: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("slave status: %w", err)
	}
	out := map[string]string{}
	if !rows.Next() {
		return out, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("slave status: %w", err)
	}
	for i, c := range cols {
		out[c] = vals[i].String
	}
	return out, rows.Err()
}

// LagReplica makes the MariaDB replica id apply its primary's events lag
// after they were committed there (MASTER_DELAY, whole seconds; 0 applies
// them as they arrive) and confirms that the replica reports the delay.
// MariaDB takes the change only from a stopped replica; it then resumes
// from its GTID position. While the delay holds it keeps receiving and
// acknowledging the binary log (the writer's semi-sync waits on that, not
// on the apply), so it catches up as soon as the delay is lifted.
func (d *DataTier) LagReplica(ctx context.Context, id string, lag time.Duration) error {
	n, ok := d.Node(id)
	if !ok || n.service != sim.ServiceMySQL {
		return fmt.Errorf("replica lag: no MySQL node %q", id)
	}
	if lag < 0 || lag%time.Second != 0 {
		return fmt.Errorf("replica lag: %v: want whole seconds", lag)
	}
	db, err := openDB(dsn(adminUser, adminPass, n.addr, "", 5*time.Second))
	if err != nil {
		return fmt.Errorf("replica lag: %s: %w", id, err)
	}
	defer db.Close()
	st, err := slaveStatus(ctx, db)
	if err != nil {
		return fmt.Errorf("replica lag: %s: %w", id, err)
	}
	if len(st) == 0 {
		return fmt.Errorf("replica lag: %s replicates from nobody: it is the writer", id)
	}
	secs := strconv.Itoa(int(lag / time.Second))
	if _, err := db.ExecContext(ctx, "STOP SLAVE"); err != nil {
		return fmt.Errorf("replica lag: %s: STOP SLAVE: %w", id, err)
	}
	_, cerr := db.ExecContext(ctx, "CHANGE MASTER TO MASTER_DELAY = "+secs)
	// Replication runs again whether or not the change took.
	if _, err := db.ExecContext(context.WithoutCancel(ctx), "START SLAVE"); err != nil {
		return fmt.Errorf("replica lag: %s: START SLAVE: %w", id, errors.Join(err, cerr))
	}
	if cerr != nil {
		return fmt.Errorf("replica lag: %s: CHANGE MASTER: %w", id, cerr)
	}
	if st, err = slaveStatus(ctx, db); err != nil {
		return fmt.Errorf("replica lag: %s: %w", id, err)
	}
	if st["SQL_Delay"] != secs || st["Slave_SQL_Running"] != "Yes" {
		return fmt.Errorf("replica lag: %s reports SQL_Delay %q (want %s), SQL thread running %q (%s)",
			id, st["SQL_Delay"], secs, st["Slave_SQL_Running"], st["Last_SQL_Error"])
	}
	return nil
}
