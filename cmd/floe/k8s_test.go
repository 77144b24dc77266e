package main

// Offline validation of deploy/: the Kubernetes manifests decode strictly
// into the Kubernetes API types, and their probe paths, ports, config keys
// and environment variables match what floe serves and accepts.

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/floe-dev/floe/config"
)

func splitYAML(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var docs [][]byte
	for _, d := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

func TestKubernetesManifests(t *testing.T) {
	var (
		cm       corev1.ConfigMap
		secret   corev1.Secret // floe-credentials: the environment
		kafkaTLS corev1.Secret // floe-kafka-tls: files
		dep      appsv1.Deployment
		pdb      policyv1.PodDisruptionBudget
		svc      corev1.Service
	)
	seen := map[string]bool{}
	for _, doc := range splitYAML(t, "../../deploy/kubernetes/floe.yaml") {
		var meta struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(doc, &meta))
		var into any
		switch meta.Kind {
		case "ConfigMap":
			into = &cm
		case "Secret":
			var named struct{ Metadata struct{ Name string } }
			require.NoError(t, yaml.Unmarshal(doc, &named))
			into = &secret
			if named.Metadata.Name == "floe-kafka-tls" {
				into = &kafkaTLS
			}
		case "Deployment":
			into = &dep
		case "PodDisruptionBudget":
			into = &pdb
		case "Service":
			into = &svc
		default:
			t.Fatalf("unexpected kind %q", meta.Kind)
		}
		require.NoError(t, yaml.UnmarshalStrict(doc, into), "%s does not decode strictly", meta.Kind)
		seen[meta.Kind] = true
	}
	require.Len(t, seen, 5)

	// The ConfigMap's config and the Secret's variables are what floe accepts.
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "floe.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cm.Data["floe.yaml"]), 0o644))
	var env []string
	for k, v := range secret.StringData {
		require.True(t, strings.HasPrefix(k, config.EnvPrefix), k)
		env = append(env, k+"="+v)
	}
	cfg, err := config.Load(cfgPath, env, nil)
	require.NoError(t, err, "the ConfigMap's floe.yaml with the Secret's variables must load")
	require.Equal(t, "floe:change-me", cfg.Catalog.REST.Credential, "the Secret reaches the config")
	require.Equal(t, "change-me", cfg.Kafka.SASL.Password, "the Kafka password comes from the Secret")

	// kafka.tls.ca-file is a key of the floe-kafka-tls Secret, mounted
	// where the config looks for it.
	require.Equal(t, "floe-kafka-tls", kafkaTLS.Name)
	require.Contains(t, kafkaTLS.StringData, filepath.Base(cfg.Kafka.TLS.CAFile))
	var tlsMounted bool
	for _, m := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == kafkaTLS.Name && m.MountPath == filepath.Dir(cfg.Kafka.TLS.CAFile) {
				tlsMounted = true
			}
		}
	}
	require.True(t, tlsMounted, "the Kafka CA is mounted at %s", filepath.Dir(cfg.Kafka.TLS.CAFile))

	spec := dep.Spec.Template.Spec
	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]
	require.Equal(t, []string{"run", "--config", "/etc/floe/floe.yaml"}, c.Args)
	require.Equal(t, secret.Name, c.EnvFrom[0].SecretRef.Name)
	var mounted bool
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm.Name && m.MountPath == "/etc/floe" {
				mounted = true
			}
		}
	}
	require.True(t, mounted, "the ConfigMap is mounted where --config points")

	_, port, err := net.SplitHostPort(cfg.HTTP.Addr)
	require.NoError(t, err)
	require.Equal(t, "http", c.Ports[0].Name)
	require.Equal(t, port, strconv.Itoa(int(c.Ports[0].ContainerPort)), "the container port is http.addr's")
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, "http", c.LivenessProbe.HTTPGet.Port.String())
	require.Greater(t, time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second, cfg.Shutdown.Timeout,
		"Kubernetes must wait longer than floe's shutdown")
	require.True(t, *spec.SecurityContext.RunAsNonRoot)
	require.Greater(t, *dep.Spec.Replicas, int32(1))
	require.Equal(t, dep.Spec.Selector.MatchLabels, pdb.Spec.Selector.MatchLabels)
	require.Equal(t, dep.Spec.Template.Labels, svc.Spec.Selector)
	require.Equal(t, "http", svc.Spec.Ports[0].TargetPort.String())
	require.Equal(t, "/metrics", svc.Annotations["prometheus.io/path"])

	// The probe and scrape paths are served (readyz answers 503 before the
	// group is joined, never 404).
	p := &pipeline{cfg: *cfg, reg: prometheus.NewRegistry(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(p.handler())
	defer srv.Close()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503, "/metrics": 200} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, path)
	}

	// The ServiceMonitor (a CRD) scrapes the same port and path.
	var sm struct {
		Kind string
		Spec struct {
			Endpoints []struct{ Port, Path string }
		}
	}
	docs := splitYAML(t, "../../deploy/kubernetes/servicemonitor.yaml")
	require.Len(t, docs, 1)
	require.NoError(t, yaml.Unmarshal(docs[0], &sm))
	require.Equal(t, "ServiceMonitor", sm.Kind)
	require.Equal(t, "http", sm.Spec.Endpoints[0].Port)
	require.Equal(t, "/metrics", sm.Spec.Endpoints[0].Path)
}

func TestSystemdUnitAndDockerfile(t *testing.T) {
	unit, err := os.ReadFile("../../deploy/systemd/floe.service")
	require.NoError(t, err)
	keys := map[string]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	require.Equal(t, "/usr/local/bin/floe run --config /etc/floe/floe.yaml", keys["ExecStart"])
	stop, err := time.ParseDuration(keys["TimeoutStopSec"] + "s")
	require.NoError(t, err)
	require.Greater(t, stop, config.Default().Shutdown.Timeout, "systemd must wait longer than floe's shutdown")
	require.Equal(t, "SIGTERM", keys["KillSignal"])
	require.Equal(t, "on-failure", keys["Restart"], "give-up-after exits 1: restart")

	docker, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	d := string(docker)
	require.Contains(t, d, "CGO_ENABLED=0", "a static binary")
	require.Contains(t, d, "./cmd/floe")
	require.Contains(t, d, "USER 65532:65532", "not root")
	require.Regexp(t, `(?m)^FROM .* AS build$`, d, "multi-stage")
}
