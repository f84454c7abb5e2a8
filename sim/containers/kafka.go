package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"paysim/sim"
	"paysim/sim/containers/engine"
	"paysim/sim/containers/images"
	"paysim/sim/embedded"
	"paysim/sim/kafkanode"
)

// kafkaDataDir is where the Kafka node keeps the brokers' logs: on a
// volume, not the image's fuse-overlayfs layer (see dataVolume).
const kafkaDataDir = "/var/lib/paysim-kafka"

// kafkaContainer runs a Kafka cluster's brokers in one container of the
// node image on the run's network (`paysim node kafka`): paysim's own Kafka
// (kfake), packaged, as no Kafka can be had from Debian here. Each broker
// advertises its proxy on the host, as in embedded mode, and the proxy
// forwards to the broker's published port; the stack breaks brokers
// through the node's control API (kafkanode.Client).
type kafkaContainer struct {
	tier  *DataTier
	image string
}

var _ embedded.KafkaRunner = kafkaContainer{}

// kafkaNodeID is the container's name within the run (and its host name).
const kafkaNodeID = "kafka"

// RunKafka implements embedded.KafkaRunner.
func (k kafkaContainer) RunKafka(ctx context.Context, s kafkanode.Settings, advertise []string) (kafkanode.Control, []string, error) {
	var ports []string
	for i := 0; i < s.Brokers; i++ {
		ports = append(ports, fmt.Sprintf("%d/tcp", kafkanode.BrokerPort(i)))
	}
	control := fmt.Sprintf("%d/tcp", kafkanode.ControlPort)
	_, published, err := k.tier.startNodeProcess(ctx, nodeProcess{
		image: k.image, id: kafkaNodeID, service: sim.ServiceKafka, ports: append(ports, control), control: control,
		dataDir: kafkaDataDir, args: kafkaNodeArgs(s, advertise),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kafka node: %w", err)
	}
	upstreams := make([]string, s.Brokers)
	for i := range upstreams {
		upstreams[i] = published[ports[i]]
	}
	return kafkanode.NewClient(published[control]), upstreams, nil
}

// kafkaNodeArgs is the node image's command line for the settings.
func kafkaNodeArgs(s kafkanode.Settings, advertise []string) []string {
	return []string{
		"node", "kafka",
		"--advertise", strings.Join(advertise, ","),
		"--cluster-id", s.ClusterID,
		"--topics", strings.Join(s.Topics, ","),
		"--partitions", strconv.Itoa(s.Partitions),
		"--retention", s.Retention.String(),
		"--min-insync", strconv.Itoa(s.MinInsyncReplicas),
		"--data", kafkaDataDir,
	}
}

// nodeProcess is one of paysim's own node processes in a container of the
// node image (`paysim ARGS`).
type nodeProcess struct {
	image, id string
	service   sim.Service
	az        string   // empty: the node serves every AZ
	ports     []string // container ports to publish, e.g. "8090/tcp"
	control   string   // the port of its control API, among ports
	dataDir   string   // on a volume; empty: none
	args      []string
}

// startNodeProcess starts p in a container on the run's network, ready once
// its control API answers /healthz; it returns the container and the host
// address each of p's ports is published on.
func (d *DataTier) startNodeProcess(ctx context.Context, p nodeProcess) (*testcontainers.DockerContainer, map[string]string, error) {
	d.mu.Lock()
	nw := d.net
	d.mu.Unlock()
	if nw == nil {
		return nil, nil, errors.New("the run has no network")
	}
	labels, err := nodeLabels(d.run, p.id, p.service, p.az, "")
	if err != nil {
		return nil, nil, err
	}
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithCmd(p.args...),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort(p.control).
			WithStartupTimeout(time.Minute).WithPollInterval(100 * time.Millisecond)),
	}
	if p.dataDir != "" {
		opts = append(opts, dataVolume(p.dataDir))
	}
	return d.startContainer(ctx, nw, p.image, p.id, labels, p.ports, d.logger, opts)
}

// nodeImage makes the images of paysim's own nodes (Kafka, search, app)
// ready: each user's image (over) checked to be a node image, and the node
// image of this paysim's code, which it returns, made sure of when a node
// service has none of the user's: `go build` in the source tree (the build
// cache makes an unchanged tree quick), or this binary if it is static,
// then the image if its inputs changed.
func nodeImage(ctx context.Context, over sim.Images, progress func(step string, done, total int)) (string, error) {
	eng, err := engine.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer eng.Close()
	own := false
	for _, svc := range nodeServices() {
		if ref := over[svc]; ref != "" {
			if err := checkImage(ctx, eng, "", svc, ref); err != nil {
				return "", err
			}
		} else {
			own = true
		}
	}
	if !own {
		return "", nil
	}
	opt := images.Options{Kinds: []images.Kind{images.KindNode}}
	if exe, err := os.Executable(); err == nil {
		opt.Self = exe
	}
	if progress != nil {
		opt.Progress = setupSteps(progress)
	}
	res, err := images.Build(ctx, eng, opt)
	if err != nil {
		return "", err
	}
	if len(res) != 1 {
		return "", fmt.Errorf("node image: built %d images, want 1", len(res))
	}
	return res[0].Image.Ref, nil
}
