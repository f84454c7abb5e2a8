package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"paysim/sim/appnode"
	"paysim/sim/kafkanode"
	"paysim/sim/searchnode"
)

// newNodeCmd is what paysim's node image runs in a container: one of
// paysim's own nodes. It is hidden: the containers backend starts it.
func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "node",
		Short:  "Run one of paysim's own nodes (what the node image runs in a container)",
		Hidden: true,
	}
	cmd.AddCommand(newNodeKafkaCmd(), newNodeSearchCmd(), newNodeAppCmd())
	return cmd
}

func newNodeKafkaCmd() *cobra.Command {
	var cfg kafkanode.NodeConfig
	cmd := &cobra.Command{
		Use:   "kafka",
		Short: "Run a Kafka cluster's brokers (kfake) and their control API",
		Long: fmt.Sprintf(`Run a Kafka cluster's brokers, broker i on port %d+i advertising the i-th
--advertise address, and the control API the stack breaks them through on
port %d (see package kafkanode). It runs until SIGTERM or Ctrl-C.`, kafkanode.FirstBrokerPort, kafkanode.ControlPort),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Brokers = len(cfg.Advertise)
			if err := cfg.Validate(); err != nil {
				return withCode(exitUsage, fmt.Errorf("node kafka: %w", err))
			}
			if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
				return fmt.Errorf("node kafka: data dir: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kafka node: %d brokers advertising %v\n", cfg.Brokers, cfg.Advertise)
			return kafkanode.Serve(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.Advertise, "advertise", nil, "each broker's advertised host:port, in broker order (one broker per address)")
	f.StringVar(&cfg.ClusterID, "cluster-id", "paysim", "the cluster id")
	f.StringSliceVar(&cfg.Topics, "topics", nil, "topics to create")
	f.IntVar(&cfg.Partitions, "partitions", 6, "partitions per topic")
	f.DurationVar(&cfg.Retention, "retention", 10*time.Minute, "how long records are kept")
	f.IntVar(&cfg.MinInsyncReplicas, "min-insync", 2, "the topics' min.insync.replicas")
	f.StringVar(&cfg.DataDir, "data", "/tmp/kafka", "the brokers' log directory (must be empty)")
	return cmd
}

func newNodeSearchCmd() *cobra.Command {
	var cfg searchnode.Config
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Run Elasticsearch nodes over one store and their control API",
		Long: fmt.Sprintf(`Run one Elasticsearch node (paysim's own, bleve behind the REST API) per
--names entry over one shared store, node i on port %d+i, and the control API
that kills and starts them on port %d (see package searchnode). It runs until
SIGTERM or Ctrl-C.`, searchnode.FirstNodePort, searchnode.ControlPort),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(cfg.Names) == 0 {
				return withCode(exitUsage, fmt.Errorf("node search: --names is required"))
			}
			if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
				return fmt.Errorf("node search: data dir: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "search node: %v\n", cfg.Names)
			return searchnode.Serve(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.Names, "names", nil, "the nodes' names, in port order")
	f.StringVar(&cfg.DataDir, "data", "/tmp/search", "the indices' directory")
	return cmd
}

func newNodeAppCmd() *cobra.Command {
	var host string
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Run one payment API instance and its control API",
		Long: fmt.Sprintf(`Run the control API of one payment API instance on port %d; the instance
starts on port %d when the stack posts its configuration (see package
appnode). A failpoint that crashes the instance ends the process with exit
code %d. It runs until SIGTERM or Ctrl-C.`, appnode.ControlPort, appnode.APIPort, appnode.CrashExitCode),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "app node: control on port %d\n", appnode.ControlPort)
			return appnode.Serve(cmd.Context(), host, os.Exit)
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "the address to listen on (empty: every interface)")
	return cmd
}
