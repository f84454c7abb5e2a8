package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"paysim/sim"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

func newUpCmd() *cobra.Command {
	var out, mode string
	var imageFlags []string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring the stack up, print its endpoints and keep it running until Ctrl-C",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if out == "" {
				out = filepath.Join("runs", time.Now().Format("20060102-150405")+"-up")
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return withCode(exitEnvironment, fmt.Errorf("out dir: %w", err))
			}
			imgs, err := imageOverrides(imageFlags, mode, os.Getenv)
			if err != nil {
				return withCode(exitUsage, err)
			}
			quietTestcontainers()
			start := time.Now()
			st, err := stack.Up(ctx, stack.Config{
				Mode:     mode,
				Images:   imgs,
				Topology: sim.DefaultTopology(),
				Accounts: payments.DefaultAccounts(),
				Progress: func(step string, done, total int) {
					fmt.Fprintf(cmd.ErrOrStderr(), "[%d/%d] %s ready (%v)\n", done, total, step, time.Since(start).Round(time.Millisecond))
				},
			})
			if err != nil {
				if ctx.Err() != nil {
					return withCode(exitInterrupted, err)
				}
				return withCode(exitEnvironment, err)
			}
			defer st.Close()
			ready := time.Since(start)
			ep := st.Endpoints()
			raw, err := json.MarshalIndent(ep, "", "  ")
			if err != nil {
				return withCode(exitEnvironment, err)
			}
			path := filepath.Join(out, "endpoints.json")
			if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
				return withCode(exitEnvironment, fmt.Errorf("write endpoints: %w", err))
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "paysim stack up in %v (%s mode)\n", ready.Round(time.Millisecond), orDefault(mode, stack.ModeEmbedded))
			printEndpoints(w, ep)
			for _, n := range st.Registry().Snapshot() {
				fmt.Fprintf(w, "  node %-40s %-14s %-16s %-8s %s\n", n.ID, n.Service, n.AZ, n.Role, n.Addr)
			}
			fmt.Fprintf(w, "endpoints written to %s\nCtrl-C to tear down\n", path)
			<-ctx.Done()
			fmt.Fprintln(cmd.ErrOrStderr(), "tearing down...")
			if err := st.Close(); err != nil {
				return withCode(exitEnvironment, fmt.Errorf("teardown: %w", err))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory for endpoints.json (default runs/<time>-up)")
	cmd.Flags().StringVar(&mode, "mode", stack.ModeEmbedded, "embedded|containers")
	imageFlag(cmd, &imageFlags)
	return cmd
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func printEndpoints(w interface{ Write([]byte) (int, error) }, ep sim.Endpoints) {
	m := ep.MySQL
	fmt.Fprintf(w, "  mysql          %s  (user %s, password %s, database %s)  mysql -h127.0.0.1 -P%s -u%s -p%s %s\n",
		m.Addr, m.User, m.Password, m.Database, port(m.Addr), m.User, m.Password, m.Database)
	for az, r := range m.Readers {
		fmt.Fprintf(w, "  mysql reader   %s  (%s)\n", r, az)
	}
	fmt.Fprintf(w, "  redis          %s  redis-cli -p %s\n", ep.Redis.Addr, port(ep.Redis.Addr))
	if len(ep.Redis.Sentinels) > 0 {
		fmt.Fprintf(w, "  redis sentinel %v  redis-cli -p %s SENTINEL get-master-addr-by-name %s\n",
			ep.Redis.Sentinels, port(ep.Redis.Sentinels[0]), ep.Redis.MasterName)
	}
	fmt.Fprintf(w, "  kafka          %v  kcat -b %s -L\n", ep.Kafka.Bootstrap, first(ep.Kafka.Bootstrap))
	fmt.Fprintf(w, "  elasticsearch  %s  curl %s/_cluster/health\n", ep.Elasticsearch.URL, ep.Elasticsearch.URL)
	if ep.API != nil {
		fmt.Fprintf(w, "  api            %s  curl %s/v1/accounts/u-1\n", ep.API.URL, ep.API.URL)
	}
}

func port(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
