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
	published, err := k.tier.startNodeProcess(ctx, k.image, kafkaNodeID, sim.ServiceKafka, append(ports, control), control,
		kafkaDataDir, kafkaNodeArgs(s, advertise))
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

// startNodeProcess starts one of paysim's own node processes in a container
// of image on the run's network (`paysim ARGS`), with dataDir on a volume,
// ready once its control API answers /healthz on control; it returns the
// host address each of ports is published on.
func (d *DataTier) startNodeProcess(ctx context.Context, image, id string, svc sim.Service, ports []string, control, dataDir string, args []string) (map[string]string, error) {
	d.mu.Lock()
	nw := d.net
	d.mu.Unlock()
	if nw == nil {
		return nil, errors.New("the run has no network")
	}
	labels, err := nodeLabels(d.run, id, svc, "", "")
	if err != nil {
		return nil, err
	}
	_, published, err := d.startContainer(ctx, nw, image, id, labels, ports, d.logger, []testcontainers.ContainerCustomizer{
		testcontainers.WithCmd(args...),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort(control).
			WithStartupTimeout(time.Minute).WithPollInterval(100 * time.Millisecond)),
		dataVolume(dataDir),
	})
	return published, err
}

// nodeImage makes sure the node image of this paysim's code is on the
// engine and returns it: `go build` in the source tree (the build cache
// makes an unchanged tree quick), or this binary if it is static, then the
// image if its inputs changed.
func nodeImage(ctx context.Context, progress func(step string, done, total int)) (string, error) {
	eng, err := engine.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer eng.Close()
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
