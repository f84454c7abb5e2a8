package containers

import (
	"io"
	"strings"
	"testing"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

func TestMariadbScript(t *testing.T) {
	tests := []struct {
		name     string
		serverID int
		readOnly bool
		want     []string
	}{
		{"primary", 1, false, []string{"--server-id=1", "--read-only=OFF"}},
		{"replica", 3, true, []string{"--server-id=3", "--read-only=ON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mariadbScript(tt.serverID, tt.readOnly)
			// Every node can be promoted and repointed by GTID.
			for _, w := range append(tt.want, "--no-defaults", "--log-bin", "--log-slave-updates", "--gtid-strict-mode=ON",
				"--slave-net-timeout=4", "--bind-address=0.0.0.0", "--init-file="+mysqlInitPath, "exec mariadbd") {
				if !strings.Contains(s, w) {
					t.Errorf("script lacks %q:\n%s", w, s)
				}
			}
		})
	}
}

func TestMysqlInitSQL(t *testing.T) {
	s := mysqlInitSQL("paysim", "pa'ss", "led`ger")
	if !strings.HasPrefix(s, "SET sql_log_bin = 0;\n") {
		t.Errorf("the accounts would be replicated:\n%s", s)
	}
	for _, w := range []string{
		"CREATE DATABASE IF NOT EXISTS `led``ger`",
		`CREATE USER IF NOT EXISTS 'paysim'@'%' IDENTIFIED BY 'pa\'ss'`,
		"GRANT ALL PRIVILEGES ON `led``ger`.* TO 'paysim'@'%'",
		"GRANT REPLICATION SLAVE ON *.* TO 'paysim_repl'@'%'",
	} {
		if !strings.Contains(s, w) {
			t.Errorf("init SQL lacks %q:\n%s", w, s)
		}
	}
	if strings.Contains(s, "SUPER") || strings.Contains(s, "ON *.* TO 'paysim'") {
		t.Errorf("the app's account may write on read-only replicas:\n%s", s)
	}
}

func TestRedisScript(t *testing.T) {
	p, r := redisScript("redis-0-a", ""), redisScript("redis-1-b", "redis-0-a")
	for _, s := range []string{p, r} {
		for _, w := range []string{"--repl-diskless-sync-delay 0", "--appendonly yes", "--protected-mode no", "--min-replicas-to-write 1 --min-replicas-max-lag 2"} {
			if !strings.Contains(s, w) {
				t.Errorf("script lacks %q:\n%s", w, s)
			}
		}
	}
	if strings.Contains(p, "--replicaof") {
		t.Errorf("the primary replicates:\n%s", p)
	}
	if !strings.Contains(r, "--replicaof redis-0-a 6379") || !strings.Contains(r, "--replica-announce-ip redis-1-b") {
		t.Errorf("replica script:\n%s", r)
	}
}

func TestSentinelConf(t *testing.T) {
	c := sentinelConf("sentinel-a", "redis-0-a", 2)
	for _, w := range []string{
		"sentinel monitor paysim redis-0-a 6379 2\n",
		"sentinel down-after-milliseconds paysim 2000\n",
		"sentinel announce-ip sentinel-a\n",
		"sentinel failover-timeout paysim 10000\n",
	} {
		if !strings.Contains(c, w) {
			t.Errorf("sentinel.conf lacks %q:\n%s", w, c)
		}
	}
	// Host names must resolve before the monitor line names one.
	if strings.Index(c, "resolve-hostnames yes") > strings.Index(c, "sentinel monitor") {
		t.Errorf("resolve-hostnames comes after the monitor line:\n%s", c)
	}
}

// TestRequestFilesSurviveARetry applies a node's request options as
// startNode does on a retry (once per attempt, to a new request): every
// attempt's container must get the whole file, not what a reader shared
// with the first attempt has left (nothing).
func TestRequestFilesSurviveARetry(t *testing.T) {
	initSQL := mysqlInitSQL("u", "p", "ledger")
	conf := "sentinel monitor paysim 10.0.0.1 6379 2\n"
	tests := []struct {
		name string
		opts []testcontainers.ContainerCustomizer
		path string
		want string
	}{
		{"mariadb init file", mysqlRequest("true", initSQL, wait.ForExit()), mysqlInitPath, initSQL},
		{"sentinel config", sentinelRequest(conf, wait.ForExit()), sentinelConfPath, conf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for attempt := 1; attempt <= 2; attempt++ {
				var req testcontainers.GenericContainerRequest
				for _, o := range tt.opts {
					if err := o.Customize(&req); err != nil {
						t.Fatalf("attempt %d: customize: %v", attempt, err)
					}
				}
				var got []string
				for _, f := range req.Files {
					if f.ContainerFilePath != tt.path {
						continue
					}
					b, err := io.ReadAll(f.Reader)
					if err != nil {
						t.Fatalf("attempt %d: read %s: %v", attempt, tt.path, err)
					}
					got = append(got, string(b))
				}
				if len(got) != 1 || got[0] != tt.want {
					t.Fatalf("attempt %d: %s = %q, want one file of %d bytes", attempt, tt.path, got, len(tt.want))
				}
			}
		})
	}
}
