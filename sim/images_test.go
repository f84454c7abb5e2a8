package sim

import (
	"strings"
	"testing"
)

func TestParseImage(t *testing.T) {
	tests := []struct {
		in      string
		svc     Service
		ref     string
		wantErr string
	}{
		{"mysql=mariadb:10.11", ServiceMySQL, "mariadb:10.11", ""},
		{" redis = registry.example:5000/team/redis:7.0 ", ServiceRedis, "registry.example:5000/team/redis:7.0", ""},
		{"app=paysim-node:bf6c32601321", ServiceApp, "paysim-node:bf6c32601321", ""},
		{"elasticsearch=paysim-node:1", ServiceSearch, "paysim-node:1", ""},
		{"mariadb:10.11", "", "", "want SERVICE=IMAGE"},
		{"postgres=postgres:16", "", "", `unknown service (want one of mysql, redis, kafka, elasticsearch, app)`},
		{"mysql=", "", "", "image for mysql: empty"},
		{"mysql=MariaDB:10.11", "", "", "must be lowercase"},
		{"redis=redis:7.0:extra", "", "", "image for redis"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			svc, ref, err := ParseImage(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseImage(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || svc != tt.svc || ref != tt.ref {
				t.Fatalf("ParseImage(%q) = %q, %q, %v; want %q, %q", tt.in, svc, ref, err, tt.svc, tt.ref)
			}
		})
	}
}

func TestImagesWith(t *testing.T) {
	file := Images{ServiceMySQL: "mariadb:10.11", ServiceRedis: "redis:7.0"}
	got := file.With(Images{ServiceRedis: "my/redis:7.0.15"})
	if got[ServiceMySQL] != "mariadb:10.11" || got[ServiceRedis] != "my/redis:7.0.15" || len(got) != 2 {
		t.Fatalf("With = %v", got)
	}
	if file[ServiceRedis] != "redis:7.0" {
		t.Fatalf("With changed its receiver: %v", file)
	}
	if got := Images(nil).With(nil); got != nil {
		t.Fatalf("nil.With(nil) = %v, want nil", got)
	}
}
