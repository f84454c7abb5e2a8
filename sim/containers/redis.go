package containers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Redis settings.
const (
	redisPort       = "6379/tcp"
	redisPortNum    = 6379
	sentinelPort    = "26379/tcp"
	sentinelPortNum = 26379
	// MasterName is the name the Sentinels monitor the Redis primary under.
	MasterName = "paysim"
	// SentinelDownAfter is how long the primary must be silent before a
	// Sentinel thinks it down (down-after-milliseconds).
	SentinelDownAfter = 2 * time.Second
	// SentinelFailoverTimeout bounds one failover attempt (and the pause
	// before another); Sentinel's default of 3 minutes would stall a drill.
	SentinelFailoverTimeout = 10 * time.Second
	sentinelConfPath        = "/etc/paysim-sentinel.conf"
)

// RedisMaxLag is how long a Redis primary goes on taking writes after its
// replica's last acknowledgement (replicas acknowledge every second).
const RedisMaxLag = 2 * time.Second

// redisScript starts redis-server: on every interface of the container,
// append-only file on (a restarted primary comes back with its data, not
// empty: an empty primary that restarts before Sentinel notices would wipe
// its replica), and no delay before a full sync (Redis 7.0 waits 5 s by
// default, and writes made in that window die with an early primary kill).
// Every node announces its host name, so that Sentinel names nodes the way
// the run's network resolves them. A primary takes writes only while a
// replica acknowledges within RedisMaxLag (min-replicas-to-write): the
// clients follow the Sentinels they reach, and a primary cut off with its
// AZ's Sentinel would otherwise go on taking writes that its failover
// throws away (the cache updater's, given up on waiting for a replica,
// left balances a version behind the ledger in az-isolation). replicaOf,
// if set, is the primary's host.
func redisScript(self, replicaOf string) string {
	args := []string{
		"--port", fmt.Sprint(redisPortNum), "--bind", "0.0.0.0", "--protected-mode", "no",
		"--dir", "/var/lib/paysim-redis", "--appendonly", "yes", "--appendfsync", "everysec", "--save", `""`,
		"--repl-diskless-sync-delay", "0", "--replica-announce-ip", self,
		"--min-replicas-to-write", "1", "--min-replicas-max-lag", fmt.Sprint(int(RedisMaxLag / time.Second)),
	}
	if replicaOf != "" {
		args = append(args, "--replicaof", replicaOf, fmt.Sprint(redisPortNum))
	}
	return "set -e\nmkdir -p /var/lib/paysim-redis\nexec redis-server " + strings.Join(args, " ") + "\n"
}

// sentinelConf is one Sentinel's configuration: it monitors the primary by
// host name with the given quorum, announces itself by host name, and
// fails over after SentinelDownAfter. Sentinel rewrites the file as the
// topology changes, so it is the container's own copy.
func sentinelConf(self, primary string, quorum int) string {
	return fmt.Sprintf(`port %d
bind 0.0.0.0
protected-mode no
dir /tmp
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip %s
sentinel announce-port %d
sentinel monitor %s %s %d %d
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s %d
sentinel parallel-syncs %s 1
`, sentinelPortNum, self, sentinelPortNum, MasterName, primary, redisPortNum, quorum,
		MasterName, SentinelDownAfter.Milliseconds(), MasterName, SentinelFailoverTimeout.Milliseconds(), MasterName)
}

// outputHas matches exec output containing want.
func outputHas(want string) func(io.Reader) bool {
	return func(r io.Reader) bool {
		b, _ := io.ReadAll(r)
		return bytes.Contains(b, []byte(want))
	}
}

// redisReady waits until the node answers PING and, for a replica, until
// its link to the primary is up (the first full sync done).
func redisReady(replica bool, timeout time.Duration) wait.Strategy {
	ping := wait.ForExec([]string{"redis-cli", "-p", fmt.Sprint(redisPortNum), "ping"}).
		WithResponseMatcher(outputHas("PONG")).WithPollInterval(100 * time.Millisecond).WithStartupTimeout(timeout)
	if !replica {
		return ping
	}
	linked := wait.ForExec([]string{"redis-cli", "-p", fmt.Sprint(redisPortNum), "info", "replication"}).
		WithResponseMatcher(outputHas("master_link_status:up")).WithPollInterval(100 * time.Millisecond).WithStartupTimeout(timeout)
	return wait.ForAll(ping, linked).WithDeadline(timeout)
}

// sentinelReady waits until the Sentinel answers PING.
func sentinelReady(timeout time.Duration) wait.Strategy {
	return wait.ForExec([]string{"redis-cli", "-p", fmt.Sprint(sentinelPortNum), "ping"}).
		WithResponseMatcher(outputHas("PONG")).WithPollInterval(100 * time.Millisecond).WithStartupTimeout(timeout)
}

func redisRequest(script string, ready wait.Strategy) []testcontainers.ContainerCustomizer {
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithEntrypoint("sh", "-c", script),
		testcontainers.WithCmd("paysim-redis"),
		testcontainers.WithWaitStrategy(ready),
		dataVolume("/var/lib/paysim-redis"),
	}
}

func sentinelRequest(conf string, ready wait.Strategy) []testcontainers.ContainerCustomizer {
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithEntrypoint("redis-sentinel", sentinelConfPath),
		testcontainers.WithCmd(),
		withFile(sentinelConfPath, conf),
		testcontainers.WithWaitStrategy(ready),
	}
}

// waitFailoverReady waits until every Sentinel sees the quorum of
// Sentinels (all of them) and a healthy replica: from then on, losing the
// primary makes Sentinel fail over.
func waitFailoverReady(ctx context.Context, sentinels []string, replicas int) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, addr := range sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second})
		err := func() error {
			defer c.Close()
			var last string
			for {
				ok, why := sentinelHealthy(ctx, c, len(sentinels), replicas)
				if ok {
					return nil
				}
				last = why
				select {
				case <-ctx.Done():
					return fmt.Errorf("sentinel %s: %s: %w", addr, last, ctx.Err())
				case <-tick.C:
				}
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

func sentinelHealthy(ctx context.Context, c *redis.SentinelClient, sentinels, replicas int) (bool, string) {
	q, err := c.CkQuorum(ctx, MasterName).Result()
	if err != nil {
		return false, "ckquorum: " + err.Error()
	}
	if !strings.HasPrefix(q, fmt.Sprintf("OK %d usable", sentinels)) {
		return false, "ckquorum: " + q
	}
	rs, err := c.Replicas(ctx, MasterName).Result()
	if err != nil {
		return false, "replicas: " + err.Error()
	}
	healthy := 0
	for _, r := range rs {
		if r["flags"] == "slave" && r["master-link-status"] == "ok" {
			healthy++
		}
	}
	if healthy < replicas {
		return false, fmt.Sprintf("%d of %d replicas healthy", healthy, replicas)
	}
	return true, ""
}
