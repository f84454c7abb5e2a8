package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"golang.org/x/term"

	"paysim/sim"
	"paysim/sim/containers/engine"
	"paysim/sim/containers/images"
	"paysim/sim/stack"
)

func newImagesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Build and list the images containers mode runs (built locally: no registry needed)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newImagesBuildCmd(), newImagesListCmd(), newImagesPruneCmd())
	return cmd
}

func newImagesBuildCmd() *cobra.Command {
	var opt images.Options
	var only, progress string
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the base (MariaDB, Redis, Sentinel), node (paysim) and toxiproxy images that are missing",
		Long: `Build the images containers mode runs, without a registry:

  base       Debian bookworm with MariaDB 10.11, Redis 7, Sentinel, iproute2,
             iptables, tini: debootstrap + docker import where debootstrap can
             run (Linux, root), else FROM debian:bookworm-slim (the engine
             pulls it). --builder picks one.
  node       paysim's own static binary (CGO_ENABLED=0 go build) FROM scratch
  toxiproxy  the toxiproxy server, static, FROM scratch

Each tag is a hash of the image's inputs: an image is rebuilt only when they
change (or with --force).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			for _, s := range splitList(only) {
				k, err := images.ParseKind(s)
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("--only: %w", err))
				}
				opt.Kinds = append(opt.Kinds, k)
			}
			switch opt.Builder {
			case images.BuilderAuto, images.BuilderDebootstrap, images.BuilderDockerfile:
			default:
				return withCode(exitUsage, fmt.Errorf("--builder %q: want auto, debootstrap or dockerfile", opt.Builder))
			}
			if progress != "auto" && progress != "bars" && progress != "plain" {
				return withCode(exitUsage, fmt.Errorf("--progress %q: want auto, bars or plain", progress))
			}
			eng, err := connect(ctx)
			if err != nil {
				return err
			}
			defer eng.Close()
			if self, err := os.Executable(); err == nil {
				opt.Self = self
			}
			w := cmd.ErrOrStderr()
			var bars *images.Bars
			switch {
			case progress == "bars" || (progress == "auto" && isTerminal(w)):
				bars = images.NewBars(w)
				opt.Progress = bars
			default:
				opt.Progress = &images.Lines{W: w}
			}
			start := time.Now()
			res, err := images.Build(ctx, eng, opt)
			if bars != nil {
				bars.Wait()
			}
			out := cmd.OutOrStdout()
			for _, r := range res {
				state := "up to date"
				if r.Built {
					state = fmt.Sprintf("built in %v: %s", r.Took.Round(100*time.Millisecond), r.How)
				}
				fmt.Fprintf(out, "%-10s %-32s %9s  %s\n", r.Image.Kind, r.Image.Ref, images.HumanSize(r.Image.Size), state)
			}
			if err != nil {
				if ctx.Err() != nil {
					return withCode(exitInterrupted, err)
				}
				return withCode(exitEnvironment, err)
			}
			fmt.Fprintf(out, "images ready in %v\n", time.Since(start).Round(100*time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.Builder, "builder", images.BuilderAuto, "how to make the base image: auto|debootstrap|dockerfile")
	f.StringVar(&opt.Mirror, "mirror", "", "Debian mirror for debootstrap (default: the one in /etc/apt/sources.list[.d])")
	f.StringVar(&only, "only", "", "build only these images (comma-separated: base,node,toxiproxy)")
	f.BoolVar(&opt.Force, "force", false, "rebuild images that are already present")
	f.StringVar(&progress, "progress", "auto", "auto|bars|plain (bars on a terminal, lines otherwise)")
	return cmd
}

func newImagesListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the paysim images on the Docker engine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			eng, err := connect(ctx)
			if err != nil {
				return err
			}
			defer eng.Close()
			list, err := images.List(ctx, eng)
			if err != nil {
				return withCode(exitEnvironment, err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if list == nil {
					list = []images.Image{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			if len(list) == 0 {
				fmt.Fprintln(out, "no paysim images: run `paysim images build`")
				return nil
			}
			base := images.BaseRef()
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tKIND\tBUILT BY\tSIZE\tCREATED\t")
			for _, im := range list {
				note := ""
				if im.Kind == images.KindBase {
					note = "stale"
					if im.Ref == base {
						note = "current"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", im.Ref, im.Kind, im.Builder, images.HumanSize(im.Size),
					im.Created.Local().Format("2006-01-02 15:04"), note)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newImagesPruneCmd() *cobra.Command {
	var keep int
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove old paysim images (each code change makes a new node image)",
		Long: `Remove the paysim images that are not among the --keep newest of their kind,
nor the current base image. An image a container still uses stays.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keep < 1 {
				return withCode(exitUsage, fmt.Errorf("images prune: --keep %d: want at least 1", keep))
			}
			ctx := cmd.Context()
			eng, err := connect(ctx)
			if err != nil {
				return err
			}
			defer eng.Close()
			pruned, err := images.Prune(ctx, eng, keep)
			if err != nil {
				return withCode(exitEnvironment, err)
			}
			out := cmd.OutOrStdout()
			var freed int64
			for _, p := range pruned {
				if p.Err != nil {
					fmt.Fprintf(out, "kept %s: %v\n", p.Ref, p.Err)
					continue
				}
				freed += p.Size
				fmt.Fprintf(out, "removed %s (%s)\n", p.Ref, images.HumanSize(p.Size))
			}
			fmt.Fprintf(out, "%d paysim images removed, %s freed\n", len(pruned)-countKept(pruned), images.HumanSize(freed))
			return nil
		},
	}
	cmd.Flags().IntVar(&keep, "keep", 1, "how many of the newest images of each kind to keep")
	return cmd
}

// countKept counts the images Prune could not remove.
func countKept(ps []images.Pruned) int {
	n := 0
	for _, p := range ps {
		if p.Err != nil {
			n++
		}
	}
	return n
}

// connect reaches the local Docker engine for a containers command, with
// testcontainers' own logging off (paysim reports what matters). Without an
// engine the error carries exit code 3.
func connect(ctx context.Context) (*engine.Engine, error) {
	quietTestcontainers()
	eng, err := engine.Connect(ctx)
	if err != nil {
		if errors.Is(err, sim.ErrEnvironment) {
			return nil, withCode(exitEnvironment, err)
		}
		if ctx.Err() != nil {
			return nil, withCode(exitInterrupted, err)
		}
		return nil, withCode(exitEnvironment, err)
	}
	return eng, nil
}

// quietTestcontainers turns testcontainers' own logging off: paysim
// reports the setup steps that matter itself.
func quietTestcontainers() { tclog.SetDefault(tclog.NewNoopLogger()) }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// imageFlag adds --image SERVICE=IMAGE (repeatable) to a command that
// brings a stack up.
func imageFlag(cmd *cobra.Command, p *[]string) {
	var svcs []string
	for _, s := range sim.ImageServices() {
		svcs = append(svcs, string(s))
	}
	cmd.Flags().StringArrayVar(p, "image", nil, "containers mode: run SERVICE's containers from IMAGE, one of "+strings.Join(svcs, ", ")+
		" (repeatable; over PAYSIM_IMAGE_<SERVICE> and scenarios.yaml's defaults.images; the image must be on the engine)")
}

// imageOverrides are the image overrides of the environment
// (PAYSIM_IMAGE_MYSQL=..., PAYSIM_IMAGE_ELASTICSEARCH=...) with the --image
// flags on top. Flags given for a run that is not in containers mode are a
// usage error; the environment's are left for the runs that are.
func imageOverrides(flags []string, mode string, getenv func(string) string) (sim.Images, error) {
	over := sim.Images{}
	for _, svc := range sim.ImageServices() {
		env := "PAYSIM_IMAGE_" + strings.ToUpper(string(svc))
		if ref := getenv(env); ref != "" {
			if err := (sim.Images{svc: ref}).Validate(); err != nil {
				return nil, fmt.Errorf("%s: %w", env, err)
			}
			over[svc] = ref
		}
	}
	if len(flags) > 0 && mode != "" && mode != stack.ModeContainers {
		return nil, fmt.Errorf("--image: images are for --mode containers (this run's mode is %s)", mode)
	}
	for _, f := range flags {
		svc, ref, err := sim.ParseImage(f)
		if err != nil {
			return nil, fmt.Errorf("--image: %w", err)
		}
		over[svc] = ref
	}
	if len(over) == 0 {
		return nil, nil
	}
	return over, nil
}
