package kafkanode

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"paysim/internal/controlapi"
)

// The ports a Kafka node listens on in its container.
const (
	// FirstBrokerPort is broker 0's port; broker i listens on
	// FirstBrokerPort+i.
	FirstBrokerPort = 9092
	// ControlPort serves the control API (Handler).
	ControlPort = 8090
)

// BrokerPort is broker id's port in a Kafka node's container.
func BrokerPort(id int) int { return FirstBrokerPort + id }

// NodeConfig is a Kafka node process (`paysim node kafka`): the cluster's
// brokers on Host from FirstBrokerPort, broker i advertising Advertise[i]
// (the address clients reach it at: its proxy on the host), and the control
// API on ControlPort.
type NodeConfig struct {
	Settings
	// DataDir holds the brokers' logs; it must be empty.
	DataDir string
	// Advertise is each broker's advertised host:port.
	Advertise []string
	// Host is the address to listen on; empty means every interface (the
	// container's own network namespace).
	Host string
}

// Serve runs a Kafka node until ctx ends.
func Serve(ctx context.Context, cfg NodeConfig) error {
	if len(cfg.Advertise) != cfg.Brokers {
		return fmt.Errorf("kafka node: %d advertised addresses for %d brokers", len(cfg.Advertise), cfg.Brokers)
	}
	ports := make([]int, cfg.Brokers)
	for i := range ports {
		ports[i] = BrokerPort(i)
	}
	c, err := Start(Config{
		Settings: cfg.Settings, DataDir: cfg.DataDir, Ports: ports,
		Listen: func(id int32, port int) (net.Listener, error) {
			ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(port)))
			if err != nil {
				return nil, err
			}
			adv, err := Advertised(ln, cfg.Advertise[id])
			if err != nil {
				ln.Close()
				return nil, err
			}
			return adv, nil
		},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := controlapi.Serve(ctx, net.JoinHostPort(cfg.Host, strconv.Itoa(ControlPort)), Handler(c)); err != nil {
		return fmt.Errorf("kafka node: control: %w", err)
	}
	return nil
}
