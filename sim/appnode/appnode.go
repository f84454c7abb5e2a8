// Package appnode runs one payment API instance as a process of its own,
// what paysim's node image runs in an app container (`paysim node app`):
// a control API on ControlPort answers at once, and the instance starts on
// APIPort when the stack sends its configuration (POST /start). The stack
// sets the run's failpoints through the same API, and a failpoint that
// crashes the instance ends the process, as a crash ends a pod's.
package appnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pingcap/failpoint"

	"paysim/internal/controlapi"
	"paysim/sim/payments"
)

// The ports an app node listens on in its container.
const (
	// APIPort serves the payment API once the instance started.
	APIPort = 8080
	// ControlPort serves the control API (Handler).
	ControlPort = 8090
)

// CrashExitCode is the exit code of a node whose instance a failpoint
// crashed.
const CrashExitCode = 86

// Config is the instance's configuration as the stack sends it: the
// serialisable part of payments.Config, the routes its dials take out of
// the container, and the run's failpoints at the time of the start.
type Config struct {
	Instance    string `json:"instance"`
	AZ          string `json:"az"`
	MySQLAddr   string `json:"mysql_addr"`
	ReaderAddr  string `json:"reader_addr,omitempty"`
	AsyncReader bool   `json:"async_reader,omitempty"`
	// SemiSyncWriter: payments.Config.SemiSyncWriter.
	SemiSyncWriter bool   `json:"semi_sync_writer,omitempty"`
	MySQLUser      string `json:"mysql_user"`
	MySQLPass      string `json:"mysql_password"`
	MySQLDB        string `json:"mysql_database"`
	RedisAddr      string `json:"redis_addr"`
	// RedisSentinels and RedisMaster, if set, find the Redis primary
	// through Sentinel (payments.Config.RedisSentinels).
	RedisSentinels []string `json:"redis_sentinels,omitempty"`
	RedisMaster    string   `json:"redis_master,omitempty"`
	Kafka          []string `json:"kafka"`
	SearchURLs     []string `json:"search_urls"`
	GroupSuffix    string   `json:"group_suffix,omitempty"`

	DBPool         int           `json:"db_pool,omitempty"`
	DBTimeout      time.Duration `json:"db_timeout,omitempty"`
	MaxDBAttempts  int           `json:"max_db_attempts,omitempty"`
	RetryBackoff   time.Duration `json:"retry_backoff,omitempty"`
	RequestTimeout time.Duration `json:"request_timeout,omitempty"`
	RedisTimeout   time.Duration `json:"redis_timeout,omitempty"`
	IdemTTL        time.Duration `json:"idem_ttl,omitempty"`
	RateLimit      int           `json:"rate_limit,omitempty"`
	LogBuffer      int           `json:"log_buffer,omitempty"`
	CacheSoloAfter time.Duration `json:"cache_solo_after,omitempty"`
	LeaseTTL       time.Duration `json:"lease_ttl,omitempty"`
	RelayInterval  time.Duration `json:"relay_interval,omitempty"`

	// Routes maps an address the instance dials (the stack's endpoints,
	// 127.0.0.1 on the host) to the address that reaches it from the
	// container. A loopback address without a route is refused.
	Routes map[string]string `json:"routes,omitempty"`
	// Failpoints are the run's failpoints: full name -> term.
	Failpoints map[string]string `json:"failpoints,omitempty"`
}

// FromPayments is the node configuration of c with its routes and the
// failpoints on now; c's functions (Dial, OnCrash, Failpoints) stay behind.
func FromPayments(c payments.Config, routes, failpoints map[string]string) Config {
	return Config{
		Instance: c.Instance, AZ: c.AZ,
		MySQLAddr: c.MySQLAddr, ReaderAddr: c.ReaderAddr, AsyncReader: c.AsyncReader, SemiSyncWriter: c.SemiSyncWriter,
		MySQLUser: c.MySQLUser, MySQLPass: c.MySQLPass, MySQLDB: c.MySQLDB,
		RedisAddr: c.RedisAddr, RedisSentinels: c.RedisSentinels, RedisMaster: c.RedisMaster, Kafka: c.KafkaBrokers, SearchURLs: c.SearchURLs, GroupSuffix: c.GroupSuffix,
		DBPool: c.DBPool, DBTimeout: c.DBTimeout, MaxDBAttempts: c.MaxDBAttempts, RetryBackoff: c.RetryBackoff,
		RequestTimeout: c.RequestTimeout, RedisTimeout: c.RedisTimeout, IdemTTL: c.IdemTTL, RateLimit: c.RateLimit,
		LogBuffer: c.LogBuffer, CacheSoloAfter: c.CacheSoloAfter, LeaseTTL: c.LeaseTTL, RelayInterval: c.RelayInterval,
		Routes: routes, Failpoints: failpoints,
	}
}

// payments is the instance's runtime configuration, listening on addr.
func (c Config) payments(addr string) payments.Config {
	return payments.Config{
		Instance: c.Instance, AZ: c.AZ, Addr: addr,
		MySQLAddr: c.MySQLAddr, ReaderAddr: c.ReaderAddr, AsyncReader: c.AsyncReader, SemiSyncWriter: c.SemiSyncWriter,
		MySQLUser: c.MySQLUser, MySQLPass: c.MySQLPass, MySQLDB: c.MySQLDB,
		RedisAddr: c.RedisAddr, RedisSentinels: c.RedisSentinels, RedisMaster: c.RedisMaster, KafkaBrokers: c.Kafka, SearchURLs: c.SearchURLs, GroupSuffix: c.GroupSuffix,
		DBPool: c.DBPool, DBTimeout: c.DBTimeout, MaxDBAttempts: c.MaxDBAttempts, RetryBackoff: c.RetryBackoff,
		RequestTimeout: c.RequestTimeout, RedisTimeout: c.RedisTimeout, IdemTTL: c.IdemTTL, RateLimit: c.RateLimit,
		LogBuffer: c.LogBuffer, CacheSoloAfter: c.CacheSoloAfter, LeaseTTL: c.LeaseTTL, RelayInterval: c.RelayInterval,
		Dial: routedDial(c.Routes),
	}
}

// Validate reports what the instance cannot start without.
func (c Config) Validate() error {
	var errs []error
	if c.Instance == "" {
		errs = append(errs, errors.New("instance is empty"))
	}
	if c.MySQLAddr == "" {
		errs = append(errs, errors.New("mysql_addr is empty"))
	}
	if c.RedisAddr == "" && len(c.RedisSentinels) == 0 {
		errs = append(errs, errors.New("redis_addr and redis_sentinels are empty"))
	}
	if len(c.RedisSentinels) > 0 && c.RedisMaster == "" {
		errs = append(errs, errors.New("redis_sentinels without redis_master"))
	}
	if len(c.Kafka) == 0 {
		errs = append(errs, errors.New("kafka is empty"))
	}
	errs = append(errs, checkTerms(c.Failpoints))
	return errors.Join(errs...)
}

// routedDial dials through routes: a routed address goes to its route, a
// loopback address without one is refused (in a container it is the
// container itself, never the stack's endpoint), any other goes as is.
func routedDial(routes map[string]string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := routes[addr]; ok {
			return d.DialContext(ctx, network, to)
		}
		if host, _, err := net.SplitHostPort(addr); err == nil && len(routes) > 0 {
			if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
				return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("no route to the stack's %s from this container", addr)}
			}
		}
		return d.DialContext(ctx, network, addr)
	}
}

// Node is an app node's state: its failpoints and, once started, the
// instance.
type Node struct {
	listen string // the API's listen address
	exit   func(code int)

	fps *failpoint.Failpoints

	mu  sync.Mutex
	svc *payments.Service
}

// NewNode is a node whose instance will listen on listen (host:port), and
// which calls exit with CrashExitCode when a failpoint crashes the
// instance.
func NewNode(listen string, exit func(code int)) *Node {
	return &Node{listen: listen, exit: exit, fps: &failpoint.Failpoints{}}
}

// Start starts the instance of cfg; a node starts one instance once.
func (n *Node) Start(ctx context.Context, cfg Config) (string, error) {
	if err := cfg.Validate(); err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.svc != nil {
		return "", errStarted
	}
	if err := n.SetFailpoints(cfg.Failpoints); err != nil {
		return "", err
	}
	pc := cfg.payments(n.listen)
	pc.Failpoints = n.fps
	pc.OnCrash = func() { n.exit(CrashExitCode) }
	svc, err := payments.Start(ctx, pc)
	if err != nil {
		return "", fmt.Errorf("start: %w", err)
	}
	n.svc = svc
	return svc.Addr(), nil
}

// SetFailpoints turns the failpoints to set (full name -> term): those on,
// every other off. A failpoint whose term stays keeps its counters. On an
// invalid term nothing changes.
func (n *Node) SetFailpoints(set map[string]string) error {
	if err := checkTerms(set); err != nil {
		return err
	}
	for _, name := range n.fps.List() {
		if _, on := set[name]; !on {
			_ = n.fps.Disable(name) // listed, so it exists
		}
	}
	for name, term := range set {
		if now, err := n.fps.Status(name); err == nil && now == term {
			continue
		}
		if err := n.fps.Enable(name, term); err != nil {
			return fmt.Errorf("failpoint %s: %w", name, err)
		}
	}
	return nil
}

// Failpoints are the failpoints on: full name -> term.
func (n *Node) Failpoints() map[string]string {
	out := map[string]string{}
	for _, name := range n.fps.List() {
		if term, err := n.fps.Status(name); err == nil {
			out[name] = term
		}
	}
	return out
}

// checkTerms reports the failpoints of set whose terms do not parse.
func checkTerms(set map[string]string) error {
	var errs []error
	for name, term := range set {
		if err := (&failpoint.Failpoints{}).Enable(name, term); err != nil {
			errs = append(errs, fmt.Errorf("failpoint %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// errStarted is Start's error on a node that runs its instance already.
var errStarted = errors.New("the instance runs already")

// InFlight is how many write requests the instance is handling.
func (n *Node) InFlight() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.svc == nil {
		return 0
	}
	return n.svc.InFlight()
}

// Close stops the instance, if it runs.
func (n *Node) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.svc != nil {
		n.svc.Kill()
		n.svc = nil
	}
}

// Handler is the node's control API:
//
//	GET  /healthz     200 once the control API answers
//	POST /start       start the instance (a Config); 409 if it runs
//	PUT  /failpoints  the failpoints on, all others off: {"name": "term"}
//	GET  /failpoints  the failpoints on
//	GET  /inflight    {"in_flight": n}
func Handler(n *Node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, r *http.Request) {
		var cfg Config
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			http.Error(w, "start: "+err.Error(), http.StatusBadRequest)
			return
		}
		addr, err := n.Start(r.Context(), cfg)
		switch {
		case errors.Is(err, errStarted):
			http.Error(w, err.Error(), http.StatusConflict)
		case err != nil && cfg.Validate() != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			writeJSON(w, map[string]string{"addr": addr})
		}
	})
	mux.HandleFunc("PUT /failpoints", func(w http.ResponseWriter, r *http.Request) {
		var set map[string]string
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&set); err != nil {
			http.Error(w, "failpoints: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := n.SetFailpoints(set); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /failpoints", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, n.Failpoints())
	})
	mux.HandleFunc("GET /inflight", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]int{"in_flight": n.InFlight()})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Serve runs an app node until ctx ends: its control API on host at
// ControlPort, the instance once started. exit ends the process.
func Serve(ctx context.Context, host string, exit func(code int)) error {
	n := NewNode(net.JoinHostPort(host, strconv.Itoa(APIPort)), exit)
	defer n.Close()
	return controlapi.Serve(ctx, net.JoinHostPort(host, strconv.Itoa(ControlPort)), Handler(n))
}

// Client calls an app node's control API.
type Client struct{ c *controlapi.Client }

// NewClient calls the control API at addr (host:port).
func NewClient(addr string) *Client { return &Client{c: controlapi.NewClient("app control", addr)} }

// Start starts the node's instance.
func (c *Client) Start(ctx context.Context, cfg Config) error {
	return c.c.Send(ctx, http.MethodPost, "/start", cfg, nil, nil)
}

// SetFailpoints turns the node's failpoints to set (full name -> term):
// those on, every other off.
func (c *Client) SetFailpoints(ctx context.Context, set map[string]string) error {
	if set == nil {
		set = map[string]string{}
	}
	return c.c.Send(ctx, http.MethodPut, "/failpoints", set, nil, nil)
}

// Failpoints are the node's failpoints on: full name -> term.
func (c *Client) Failpoints(ctx context.Context) (map[string]string, error) {
	var out map[string]string
	err := c.c.Call(ctx, http.MethodGet, "/failpoints", &out, nil)
	return out, err
}

// InFlight is how many write requests the node's instance is handling.
func (c *Client) InFlight(ctx context.Context) (int, error) {
	var out struct {
		N int `json:"in_flight"`
	}
	err := c.c.Call(ctx, http.MethodGet, "/inflight", &out, nil)
	return out.N, err
}
