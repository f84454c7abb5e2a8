// Package payments is the payment API under test: top-ups, QR payments, P2P
// transfers, refunds and balance reads over a MySQL ledger, with Redis for
// idempotency, balance cache and rate limits, a transactional outbox relayed
// to Kafka, idempotent consumers, and app logs shipped to Elasticsearch.
package payments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/go-sql-driver/mysql"
	"github.com/pingcap/failpoint"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/internal/loopback"
)

// Config is one app instance's wiring and tuning.
type Config struct {
	Instance string // e.g. app-ap-northeast-1a-0
	AZ       string
	Addr     string // listen address; "127.0.0.1:0" picks a port
	// Listen binds Addr; nil is loopback.Listen. The embedded stack passes
	// one that also accepts in-memory connections (memnet).
	Listen func(addr string) (net.Listener, error)

	MySQLAddr  string // writer (cluster) endpoint
	ReaderAddr string // reader endpoint in this AZ; empty uses the writer
	// AsyncReader says ReaderAddr is an asynchronous replica that can lag
	// the writer: what must be current (the cache's balances) is then read
	// from the writer.
	AsyncReader bool
	// SemiSyncWriter says the writer acknowledges commits only once a
	// replica has them, while its semi-sync is on: the outbox relay then
	// publishes only while it is (see relayOnce).
	SemiSyncWriter bool
	MySQLUser      string
	MySQLPass      string
	MySQLDB        string
	RedisAddr      string
	// RedisSentinels, if set, are Sentinels watching the Redis primary
	// under RedisMaster: the client asks them where the primary is and
	// follows their failovers (go-redis's failover client), and RedisAddr
	// is not used.
	RedisSentinels []string
	RedisMaster    string
	KafkaBrokers   []string
	SearchURLs     []string

	// Failpoints are the run's failpoints (crash/delay points and seeded bugs).
	Failpoints *failpoint.Failpoints
	// Dial, if set, opens every backend connection (the AZ's view of the
	// region's network).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnCrash, if set, hears that a failpoint crashed the instance.
	OnCrash func()
	// GroupSuffix is appended to the consumer groups' names (a DR app tier
	// replays the topics under new groups).
	GroupSuffix string

	DBPool         int           // max open connections to the writer
	DBTimeout      time.Duration // per statement I/O timeout
	MaxDBAttempts  int           // attempts per movement on deadlock / broken connection
	RetryBackoff   time.Duration // first backoff between attempts
	RequestTimeout time.Duration // whole-request budget
	RedisTimeout   time.Duration
	// IdemTTL is how long Redis keeps an answer for replays: a client's
	// retries come within seconds (paysim's within 8 s). Short: the
	// ledger's unique key answers later replays (one DB round trip), and
	// every second of TTL holds ~1,000 answers per Redis node at
	// 1,000 payments/s (2 min held over 100 MB of the two nodes' heap).
	IdemTTL   time.Duration
	RateLimit int // writes per user per second; 0 disables
	// LogBuffer bounds the app log lines waiting for Kafka; lines beyond it
	// are dropped and counted (paysim_app_logs_dropped_total). Default
	// DefaultLogBuffer.
	LogBuffer int
	// CacheSoloAfter is how long the cache updater waits for a silent Redis
	// replica before it writes alone. Longer than a Redis failover takes, so
	// a primary cut off from the region (and replaced) is never written
	// alone: its writes would be lost with it.
	CacheSoloAfter time.Duration
	LeaseTTL       time.Duration
	// RelayInterval is the outbox poll interval after a batch that was not
	// full (default 100 ms, a polling relay's usual). Each cycle costs
	// about as much CPU as a payment whatever it moves (an outbox read, a
	// read-only check, a produce to every partition that has a row, a
	// committed DELETE): at 20 ms the cycles were 5% of a 350/s run's CPU
	// (side by side), for events published 80 ms sooner, which nothing
	// waits on (a request caches its own balances; logs wait for a
	// one-second refresh).
	RelayInterval time.Duration
}

// WithDefaults fills unset tuning fields.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.DBPool == 0 {
		c.DBPool = 32
	}
	if c.MaxDBAttempts == 0 {
		c.MaxDBAttempts = 6
	}
	if c.RateLimit == 0 {
		c.RateLimit = 100
	}
	if c.LogBuffer <= 0 {
		c.LogBuffer = DefaultLogBuffer
	}
	def(&c.DBTimeout, 3*time.Second)
	def(&c.RetryBackoff, 5*time.Millisecond)
	def(&c.RequestTimeout, 4*time.Second)
	def(&c.RedisTimeout, 200*time.Millisecond)
	def(&c.IdemTTL, 30*time.Second)
	def(&c.CacheSoloAfter, 15*time.Second)
	def(&c.LeaseTTL, 2*time.Second)
	def(&c.RelayInterval, 100*time.Millisecond)
	if c.Failpoints == nil {
		c.Failpoints = &failpoint.Failpoints{}
	}
	return c
}

// Service is one running app instance.
type Service struct {
	cfg     Config
	db      *sql.DB
	reader  *sql.DB
	rdb     *redis.Client
	kc      *kgo.Client // producer: outbox relay
	logs    *appLog     // app log lines, best effort
	es      *elasticsearch.Client
	metrics *metrics
	// unreplicatedSince is when (unix ns) the Redis replica last began a run
	// of unacknowledged cache batches; 0 while it acknowledges.
	unreplicatedSince atomic.Int64
	// inFlight counts the write requests being handled (InFlight).
	inFlight atomic.Int64

	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// DSN builds a go-sql-driver DSN for a ledger endpoint.
func DSN(user, pass, addr, db string, timeout time.Duration) string {
	return dsnConfig(user, pass, addr, db, timeout).FormatDSN()
}

// openDB opens a pool on a ledger endpoint through the instance's dialer.
func (c Config) openDB(addr string) (*sql.DB, error) {
	return OpenLedger(c.MySQLUser, c.MySQLPass, addr, c.MySQLDB, c.DBTimeout, c.Dial)
}

// OpenLedger opens a pool on a ledger endpoint; dial may be nil. The
// driver's own log is silenced: dropped connections are expected under
// chaos and show in errors and metrics.
func OpenLedger(user, pass, addr, db string, timeout time.Duration, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*sql.DB, error) {
	mc := dsnConfig(user, pass, addr, db, timeout)
	mc.DialFunc = dial
	mc.Logger = quietLogger{}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// quietLogger discards the driver's own log lines.
type quietLogger struct{}

func (quietLogger) Print(...any) {}

func dsnConfig(user, pass, addr, db string, timeout time.Duration) *mysql.Config {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = user, pass, "tcp", addr, db
	c.InterpolateParams = true
	c.MultiStatements = true // a movement sends its statements in few round trips
	c.Timeout = timeout
	c.ReadTimeout = timeout
	c.WriteTimeout = timeout
	c.ParseTime = false
	// Strict mode on every connection, whatever the server's default: a
	// movement relies on a NULL in a NOT NULL column failing its statement
	// (its account checks), which outside strict mode only warns.
	c.Params = map[string]string{"sql_mode": "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"}
	return c
}

// Connection pools give back what a burst opened (a fault's latency fills
// them) after poolIdle unused, and Redis connections buffer little: the
// commands and replies are small. With go-redis's defaults (32 KiB a buffer,
// 128 KiB a pipeline's, idle connections kept 30 minutes) a soak's memory
// followed its last burst, not its load (issue 20).
const (
	poolIdle     = time.Minute
	redisBuf     = 4 << 10
	redisPipeBuf = 16 << 10
)

// Start brings an instance up: pools, clients, HTTP listener and the
// background workers (outbox relay, consumers, log shipper).
func Start(ctx context.Context, cfg Config) (_ *Service, err error) {
	cfg = cfg.WithDefaults()
	s := &Service{cfg: cfg, metrics: newMetrics()}
	defer func() {
		if err != nil {
			s.Kill()
		}
	}()
	if s.db, err = cfg.openDB(cfg.MySQLAddr); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	s.db.SetMaxOpenConns(cfg.DBPool)
	s.db.SetMaxIdleConns(cfg.DBPool)
	s.db.SetConnMaxLifetime(5 * time.Minute)
	s.db.SetConnMaxIdleTime(poolIdle)
	s.reader = s.db
	if cfg.ReaderAddr != "" && cfg.ReaderAddr != cfg.MySQLAddr {
		if s.reader, err = cfg.openDB(cfg.ReaderAddr); err != nil {
			return nil, fmt.Errorf("open reader: %w", err)
		}
		s.reader.SetMaxOpenConns(8)
		s.reader.SetConnMaxIdleTime(poolIdle)
	}
	if len(cfg.RedisSentinels) > 0 {
		s.rdb = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: cfg.RedisMaster, SentinelAddrs: cfg.RedisSentinels,
			DialTimeout: cfg.RedisTimeout, ReadTimeout: cfg.RedisTimeout, WriteTimeout: cfg.RedisTimeout,
			MaxRetries: 1, PoolSize: 64, MinIdleConns: 4, Dialer: cfg.Dial,
			ConnMaxIdleTime: poolIdle, ReadBufferSize: redisBuf, WriteBufferSize: redisBuf,
			PipelineReadBufferSize: redisPipeBuf, PipelineWriteBufferSize: redisPipeBuf,
		})
	} else {
		s.rdb = redis.NewClient(&redis.Options{
			Addr: cfg.RedisAddr, DialTimeout: cfg.RedisTimeout, ReadTimeout: cfg.RedisTimeout, WriteTimeout: cfg.RedisTimeout,
			MaxRetries: 1, PoolSize: 64, MinIdleConns: 4, Dialer: cfg.Dial,
			ConnMaxIdleTime: poolIdle, ReadBufferSize: redisBuf, WriteBufferSize: redisBuf,
			PipelineReadBufferSize: redisPipeBuf, PipelineWriteBufferSize: redisPipeBuf,
		})
	}
	if s.kc, err = kgo.NewClient(append(cfg.kafkaOpts(),
		kgo.SeedBrokers(cfg.KafkaBrokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.MetadataMaxAge(5*time.Second),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(10*time.Second),
		kgo.ProduceRequestTimeout(5*time.Second),
	)...); err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	if s.logs, err = newAppLog(cfg, s.metrics); err != nil {
		return nil, err
	}
	if s.es, err = elasticsearch.NewClient(elasticsearch.Config{Addresses: cfg.SearchURLs, MaxRetries: 2, Transport: cfg.httpTransport()}); err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	listen := cfg.Listen
	if listen == nil {
		listen = loopback.Listen
	}
	if s.ln, err = listen(cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(s.ln)
	}()
	for _, w := range []func(context.Context){s.runRelay, s.runBonus, s.runCacheUpdater, s.runShipper} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			w(wctx)
		}()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	return s, nil
}

// kafkaOpts are the options every Kafka client of the instance shares.
func (c Config) kafkaOpts() []kgo.Opt {
	if c.Dial == nil {
		return nil
	}
	return []kgo.Opt{kgo.Dialer(c.Dial)}
}

// httpTransport is the Elasticsearch client's transport, through Dial when set.
func (c Config) httpTransport() http.RoundTripper {
	if c.Dial == nil {
		return nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = c.Dial
	return t
}

// Addr is the instance's listen address.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Kill stops the instance abruptly, like a crashed pod: connections drop,
// in-flight transactions are rolled back by the database, nothing is flushed.
func (s *Service) Kill() {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		if s.srv != nil {
			_ = s.srv.Close()
		} else if s.ln != nil {
			_ = s.ln.Close()
		}
		if s.kc != nil {
			s.kc.Close()
		}
		if s.logs != nil {
			s.logs.close()
		}
		for _, db := range []*sql.DB{s.db, s.reader} {
			if db != nil {
				_ = db.Close()
			}
		}
		if s.rdb != nil {
			_ = s.rdb.Close()
		}
		s.wg.Wait()
	})
}

// Close stops the instance gracefully: in-flight requests finish first.
func (s *Service) Close(ctx context.Context) error {
	var err error
	if s.srv != nil {
		err = s.srv.Shutdown(ctx)
	}
	s.Kill()
	return err
}

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	for path := range routes {
		mux.HandleFunc("POST "+path, s.handleMovement)
	}
	mux.HandleFunc("GET /v1/accounts/{id}", s.handleAccount)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)})
	})
	return s.metrics.instrument(mux)
}

// InFlight is how many write requests the service is handling now. The
// checks wait for none: a request can still commit after its client gave up.
func (s *Service) InFlight() int { return int(s.inFlight.Load()) }

func (s *Service) handleMovement(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: "Content-Type must be application/json"})
		return
	}
	m, aerr := ParseMovement(r.URL.Path, r.Header.Get("Idempotency-Key"), r.Body)
	if aerr != nil {
		writeJSON(w, aerr.Status, aerr)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	cached, hit, allowed := s.precheck(ctx, m)
	if hit {
		w.Header().Set("Idempotent-Replayed", "true")
		writeJSON(w, cached.HTTPStatus, cached)
		return
	}
	if !allowed {
		writeJSON(w, http.StatusTooManyRequests, apiError{Error: "rate limit exceeded for " + m.From})
		return
	}
	res, err := s.apply(ctx, m)
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		s.logAsync("error", "movement failed", map[string]any{"op": m.Op, "idem_key": m.Key, "error": err.Error()})
		writeJSON(w, status, apiError{Error: "ledger unavailable, retry with the same Idempotency-Key: " + err.Error()})
		return
	}
	s.remember(ctx, m.Key, res)
	writeJSON(w, res.HTTPStatus, res)
}

// Account is the balance read answer.
type Account struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Balance int64  `json:"balance"`
	Points  int64  `json:"points"`
	Version int64  `json:"version"`
	Source  string `json:"source"` // cache or db
}

func (s *Service) handleAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !accountRe.MatchString(id) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("%q is not a valid account id", clip(id))})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	if b, ok := s.cachedBalance(ctx, id); ok {
		writeJSON(w, http.StatusOK, Account{ID: id, Kind: kindOf(id), Balance: b.Balance, Version: b.Version, Source: "cache"})
		return
	}
	a, err := s.readAccount(ctx, s.reader, id)
	current := s.reader == s.db || !s.cfg.AsyncReader || s.bug(BugStaleReplicaRead)
	if err != nil && !errors.Is(err, sql.ErrNoRows) && s.reader != s.db {
		a, err = s.readAccount(ctx, s.db, id)
		current = true
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		writeJSON(w, http.StatusNotFound, apiError{Error: "account " + id + " not found"})
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "ledger unavailable: " + err.Error()})
	default:
		// A lagging asynchronous replica can answer with the version before
		// a commit whose cache entry was just dropped (remember); cached, it
		// would stay when no later event touches the account. Only a
		// current read fills the cache; the cache updater fills the rest.
		if current {
			s.cacheBalances(ctx, []AccountBalance{{ID: a.ID, Balance: a.Balance, Version: a.Version}})
		}
		writeJSON(w, http.StatusOK, a)
	}
}

func (s *Service) readAccount(ctx context.Context, db *sql.DB, id string) (Account, error) {
	a := Account{Source: "db"}
	err := db.QueryRowContext(ctx, "SELECT id, kind, balance, points, version FROM accounts WHERE id = ?", id).
		Scan(&a.ID, &a.Kind, &a.Balance, &a.Points, &a.Version)
	return a, err
}

// kindOf infers an account's kind from its id format.
func kindOf(id string) string {
	if strings.HasPrefix(id, "m-") {
		return KindMerchant
	}
	return KindUser
}

func (s *Service) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "instance": s.cfg.Instance, "az": s.cfg.AZ})
}
