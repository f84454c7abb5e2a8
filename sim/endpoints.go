package sim

// Endpoints is what clients need to reach the stack; `paysim up` writes it as
// endpoints.json. Addresses stay the same across kill, restart and failover.
type Endpoints struct {
	MySQL         MySQLEndpoint  `json:"mysql"`
	Redis         RedisEndpoint  `json:"redis"`
	Kafka         KafkaEndpoint  `json:"kafka"`
	Elasticsearch SearchEndpoint `json:"elasticsearch"`
	API           *APIEndpoint   `json:"api,omitempty"`
}

// MySQLEndpoint is the ledger database: the cluster (writer) endpoint plus a
// reader endpoint per AZ.
type MySQLEndpoint struct {
	Addr     string            `json:"addr"`
	User     string            `json:"user"`
	Password string            `json:"password"`
	Database string            `json:"database"`
	Readers  map[string]string `json:"readers,omitempty"` // AZ -> addr
	// AsyncReaders says the readers are asynchronous replicas that can
	// lag the writer (MariaDB GTID replicas); embedded readers share the
	// writer's storage and never do.
	AsyncReaders bool `json:"async_readers,omitempty"`
	// SemiSync says the writer acknowledges a commit only once a replica
	// has it, while its semi-synchronous replication is on (MariaDB's
	// Rpl_semi_sync_master_status).
	SemiSync bool `json:"semi_sync,omitempty"`
}

// RedisEndpoint is the cache: the primary endpoint and the reader endpoint,
// and, where Sentinel watches the primary (containers mode), the Sentinels'
// addresses and the name they monitor it under.
type RedisEndpoint struct {
	Addr       string   `json:"addr"`
	Reader     string   `json:"reader,omitempty"`
	Sentinels  []string `json:"sentinels,omitempty"`
	MasterName string   `json:"master_name,omitempty"`
}

// KafkaEndpoint lists the bootstrap brokers.
type KafkaEndpoint struct {
	Bootstrap []string `json:"bootstrap"`
}

// SearchEndpoint is the Elasticsearch domain endpoint plus each node's URL.
type SearchEndpoint struct {
	URL   string   `json:"url"`
	Nodes []string `json:"nodes,omitempty"`
}

// APIEndpoint is the payment API behind the load balancer.
type APIEndpoint struct {
	URL string `json:"url"`
}
