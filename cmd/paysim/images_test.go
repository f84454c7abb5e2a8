package main

import (
	"strings"
	"testing"

	"paysim/sim"
	"paysim/sim/stack"
)

// TestImageOverrides: --image over PAYSIM_IMAGE_<SERVICE>; a flag given for
// an embedded run is a usage error, the environment's is left alone there.
func TestImageOverrides(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		flags   []string
		mode    string
		env     map[string]string
		want    sim.Images
		wantErr string
	}{
		{"none", nil, stack.ModeContainers, nil, nil, ""},
		{"flags", []string{"mysql=mariadb:10.11", "redis=redis:7.0"}, stack.ModeContainers, nil,
			sim.Images{sim.ServiceMySQL: "mariadb:10.11", sim.ServiceRedis: "redis:7.0"}, ""},
		{"environment", nil, stack.ModeContainers, map[string]string{"PAYSIM_IMAGE_ELASTICSEARCH": "mirror/paysim-node:1"},
			sim.Images{sim.ServiceSearch: "mirror/paysim-node:1"}, ""},
		{"a flag over the environment", []string{"mysql=mariadb:11.4"}, stack.ModeContainers, map[string]string{"PAYSIM_IMAGE_MYSQL": "mariadb:10.11"},
			sim.Images{sim.ServiceMySQL: "mariadb:11.4"}, ""},
		{"the environment in embedded mode", nil, stack.ModeEmbedded, map[string]string{"PAYSIM_IMAGE_MYSQL": "mariadb:10.11"},
			sim.Images{sim.ServiceMySQL: "mariadb:10.11"}, ""},
		{"a flag in embedded mode", []string{"mysql=mariadb:10.11"}, stack.ModeEmbedded, nil, nil, "images are for --mode containers"},
		{"no service", []string{"mariadb:10.11"}, stack.ModeContainers, nil, nil, "--image: \"mariadb:10.11\": want SERVICE=IMAGE"},
		{"unknown service", []string{"postgres=postgres:16"}, stack.ModeContainers, nil, nil, "unknown service"},
		{"bad environment", nil, stack.ModeContainers, map[string]string{"PAYSIM_IMAGE_REDIS": "Redis"}, nil, "PAYSIM_IMAGE_REDIS: image for redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := imageOverrides(tt.flags, tt.mode, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("imageOverrides = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("imageOverrides = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("imageOverrides = %v, want %v", got, tt.want)
				}
			}
		})
	}
}
