// Package sim models the simulated payments stack: its region, AZs, nodes,
// their roles and states, and the endpoints clients use. Backends (embedded,
// containers) implement the model; the chaos engine, the checkers and the TUI
// read it.
package sim

import (
	"errors"
	"fmt"
	"time"
)

// Topology is the shape of the stack to bring up.
type Topology struct {
	Region string
	AZs    []string
	App    AppTopology
	MySQL  MySQLTopology
	Redis  RedisTopology
	Kafka  KafkaTopology
	// DR, if set, keeps an asynchronous copy of the ledger in another region.
	DR *DRTopology
}

// DRTopology is a cross-region disaster-recovery copy of the ledger (an
// Aurora global database secondary): replicated asynchronously, promoted
// only when the primary region is lost.
type DRTopology struct {
	Region string
	// ReplicationLag is how far behind the copy may be: it catches up once
	// per lag.
	ReplicationLag time.Duration
	// PromoteAfter is how long the promotion takes once the region is lost.
	PromoteAfter time.Duration
}

// DRNodeID is the id of the DR ledger node.
func (d DRTopology) DRNodeID() string { return "mysql-dr-" + d.Region }

// AppTopology sizes the payment API tier.
type AppTopology struct {
	InstancesPerAZ int
}

// MySQLTopology configures the Aurora-like ledger cluster.
type MySQLTopology struct {
	// FailoverAfter is how long the writer endpoint stays unusable after the
	// writer instance dies before a reader in a surviving AZ is promoted.
	FailoverAfter time.Duration
	User          string
	Password      string
	Database      string
}

// RedisTopology configures the ElastiCache-like primary and replica.
type RedisTopology struct {
	// FailoverAfter is how long after the primary dies the replica is promoted.
	FailoverAfter time.Duration
	// ReplicationLag delays every write on its way to the replica.
	ReplicationLag time.Duration
}

// KafkaTopology configures the broker cluster (one broker per AZ).
type KafkaTopology struct {
	Partitions        int
	ReplicationFactor int
	MinInsyncReplicas int
	// Retention bounds how long records are kept (and so memory on long runs).
	Retention time.Duration
}

// Topic names used by the payment service.
const (
	TopicPayments = "payments"
	TopicAppLogs  = "app-logs"
)

// DefaultTopology is the 3-AZ Tokyo layout the catalogue starts from.
func DefaultTopology() Topology {
	return Topology{
		Region: "ap-northeast-1",
		AZs:    []string{"ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"},
		App:    AppTopology{InstancesPerAZ: 1},
		MySQL: MySQLTopology{
			FailoverAfter: 10 * time.Second,
			User:          "paysim",
			Password:      "paysim",
			Database:      "paysim",
		},
		Redis: RedisTopology{FailoverAfter: 5 * time.Second, ReplicationLag: 50 * time.Millisecond},
		Kafka: KafkaTopology{Partitions: 6, ReplicationFactor: 3, MinInsyncReplicas: 2, Retention: time.Hour},
	}
}

// Validate reports every inconsistency in the topology.
// Bounds on what one machine runs.
const (
	maxAZs            = 16
	maxInstancesPerAZ = 16
	maxPartitions     = 1024
)

func (t Topology) Validate() error {
	var errs []error
	if t.Region == "" {
		errs = append(errs, errors.New("region: must not be empty"))
	}
	if len(t.AZs) == 0 || len(t.AZs) > maxAZs {
		errs = append(errs, fmt.Errorf("azs: %d AZs, want 1..%d", len(t.AZs), maxAZs))
	}
	seen := map[string]bool{}
	for i, az := range t.AZs {
		switch {
		case az == "":
			errs = append(errs, fmt.Errorf("azs[%d]: must not be empty", i))
		case seen[az]:
			errs = append(errs, fmt.Errorf("azs[%d]: duplicate AZ %q", i, az))
		}
		seen[az] = true
	}
	if t.App.InstancesPerAZ < 1 || t.App.InstancesPerAZ > maxInstancesPerAZ {
		errs = append(errs, fmt.Errorf("app.instances_per_az: %d, want 1..%d", t.App.InstancesPerAZ, maxInstancesPerAZ))
	}
	if t.MySQL.FailoverAfter < 0 {
		errs = append(errs, errors.New("mysql.failover_after: must not be negative"))
	}
	if t.MySQL.User == "" || t.MySQL.Database == "" {
		errs = append(errs, errors.New("mysql: user and database must be set"))
	}
	if t.Redis.FailoverAfter < 0 || t.Redis.ReplicationLag < 0 {
		errs = append(errs, errors.New("redis: durations must not be negative"))
	}
	if d := t.DR; d != nil {
		if d.Region == "" || d.Region == t.Region {
			errs = append(errs, fmt.Errorf("dr.region: %q, want a region other than %q", d.Region, t.Region))
		}
		if d.ReplicationLag <= 0 || d.PromoteAfter < 0 {
			errs = append(errs, errors.New("dr: replication_lag must be positive and promote_after not negative"))
		}
	}
	k := t.Kafka
	if k.Partitions < 1 || k.Partitions > maxPartitions {
		errs = append(errs, fmt.Errorf("kafka.partitions: %d, want 1..%d", k.Partitions, maxPartitions))
	}
	if k.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("kafka.replication_factor: %d, want >= 1", k.ReplicationFactor))
	}
	if k.MinInsyncReplicas < 1 || k.MinInsyncReplicas > k.ReplicationFactor {
		errs = append(errs, fmt.Errorf("kafka.min_insync_replicas: %d, want 1..replication_factor (%d)", k.MinInsyncReplicas, k.ReplicationFactor))
	}
	if k.Retention <= 0 {
		errs = append(errs, errors.New("kafka.retention: must be positive"))
	}
	return errors.Join(errs...)
}

// AZAt returns the i-th AZ, wrapping around so a one-AZ topology still places
// a replica somewhere.
func (t Topology) AZAt(i int) string { return t.AZs[i%len(t.AZs)] }

// PlannedNode is a node a topology will have, known before it starts.
type PlannedNode struct {
	ID      string
	Service Service
	AZ      string
}

// PlannedNodes lists the nodes a stack of this topology runs, in the ids
// the embedded backend gives them, so faults can be checked before a run.
func (t Topology) PlannedNodes() []PlannedNode {
	var out []PlannedNode
	for i, az := range t.AZs {
		out = append(out,
			PlannedNode{ID: fmt.Sprintf("kafka-%d-%s", i, az), Service: ServiceKafka, AZ: az},
			PlannedNode{ID: "mysql-" + az, Service: ServiceMySQL, AZ: az},
			PlannedNode{ID: "es-" + az, Service: ServiceSearch, AZ: az})
		for j := 0; j < t.App.InstancesPerAZ; j++ {
			out = append(out, PlannedNode{ID: fmt.Sprintf("app-%s-%d", az, j), Service: ServiceApp, AZ: az})
		}
	}
	for i := 0; i < 2; i++ {
		out = append(out, PlannedNode{ID: fmt.Sprintf("redis-%d-%s", i, t.AZAt(i)), Service: ServiceRedis, AZ: t.AZAt(i)})
	}
	if t.DR != nil {
		out = append(out, PlannedNode{ID: t.DR.DRNodeID(), Service: ServiceMySQL, AZ: t.DR.Region})
	}
	return out
}
