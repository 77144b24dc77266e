package main

// Integration tests of the refusals: bad records under each policy, a
// recreated topic, bad configuration.

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceRaw writes one record with value v to partition 0.
func (b *bed) produceRaw(v []byte) {
	b.t.Helper()
	require.NoError(b.t, b.prod.ProduceSync(context.Background(), &kgo.Record{Topic: b.topic, Value: v}).FirstErr())
}

func TestBadRecordFailStopsAtTheRecord(t *testing.T) {
	b := newBed(t, 1)
	cfg := b.config("floe", "")
	b.produce(50)
	b.produceRaw([]byte(`{"id":"bad","n":"not a number"}`)) // offset 50
	b.produce(50)

	p := b.start(cfg)
	code := p.wait(t)
	require.Equal(t, 1, code)
	out := p.out.String()
	require.Contains(t, out, `decode events[0]@50: field "n": wrong_type`)
	require.Contains(t, out, "on-error is fail")
	require.Equal(t, int64(50), b.committed(), "everything before the bad record is committed, nothing after")

	// A restart stops at the same record again: it is never skipped silently.
	p = b.start(cfg)
	require.Equal(t, 1, p.wait(t))
	require.Equal(t, int64(50), b.committed())
}

func TestBadRecordsSkippedAreCountedAndAccounted(t *testing.T) {
	b := newBed(t, 1)
	cfg := b.config("floe", "    on-error: skip\n")
	b.produce(20)
	for _, v := range [][]byte{
		[]byte(`{"id":"x","n":1.5}`),        // wrong type
		[]byte(`{"n":1}`),                   // missing required id
		[]byte(`{"id":"y","n":1`),           // malformed
		nil,                                 // tombstone
		[]byte(`[1,2]`),                     // not an object
		[]byte(`{"id":"z","n":1e30}`),       // out of range
		[]byte("{\"id\":\"\xff\",\"n\":1}"), // invalid UTF-8
	} {
		b.produceRaw(v)
	}
	b.next = 20 // ids continue after the bad ones
	b.produce(20)

	p := b.start(cfg)
	b.waitCommitted(47, p)
	_, metrics := p.get(t, "/metrics")
	for _, reason := range []string{"wrong_type", "missing_required", "malformed_json", "null_value", "not_an_object", "out_of_range", "invalid_value"} {
		require.Contains(t, metrics, `floe_consumer_bad_records_total{outcome="skipped",reason="`+reason+`",topic="events"} 1`)
	}
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	require.Contains(t, p.out.String(), `"msg":"record skipped","topic":"events","partition":0,"offset":20`)
	b.requireExactlyOnce(40)
}

func TestRecreatedTopicIsRefused(t *testing.T) {
	b := newBed(t, 2)
	cfg := b.config("floe", "")
	b.produce(100)
	p := b.start(cfg)
	b.waitCommitted(100, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))

	adm := kadm.NewClient(b.prod)
	_, err := adm.DeleteTopics(context.Background(), b.topic)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := adm.CreateTopic(context.Background(), 2, 1, nil, b.topic)
		return err == nil
	}, 60*time.Second, 100*time.Millisecond)

	p = b.start(cfg)
	require.Equal(t, 1, p.wait(t))
	out := p.out.String()
	require.Contains(t, out, `topic ID mismatch: topic "events" has ID`)
	require.Contains(t, out, "deleted and recreated")
	require.Contains(t, out, "kafka.allow-topic-mismatch")

	// With the explicit override the new topic is consumed from the start.
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...), kgo.DefaultProduceTopic(b.topic))
	require.NoError(t, err) // a fresh producer: the old one caches the old topic ID
	t.Cleanup(prod.Close)
	b.prod = prod
	b.next = 100
	b.produce(30)
	p = b.start(cfg, "--set", "kafka.allow-topic-mismatch=true")
	p.waitReady(t)
	require.Eventually(t, func() bool { return b.committed() == 30 }, 60*time.Second, 100*time.Millisecond)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))
	require.Contains(t, p.out.String(), "topic ID mismatch overridden")
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("kafka:\n  brokrs: [x:9092]\n"), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{"unknown key", []string{"run", "--config", path}, nil, 1, `unknown key "kafka.brokrs"`},
		{"missing --config", []string{"run"}, nil, 2, "--config is required"},
		{"unknown command", []string{"runn"}, nil, 2, `unknown command "runn"`},
		{"bad env value", []string{"run", "--config", path}, []string{"FLOE_KAFKA__BATCH__MAX_AGE=banana"}, 1, "kafka.batch.max-age"},
		{"missing file", []string{"run", "--config", filepath.Join(dir, "nope.yaml")}, nil, 1, "nope.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(floeBin, tc.args...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, _ := cmd.CombinedOutput()
			require.Equal(t, tc.code, cmd.ProcessState.ExitCode(), string(out))
			require.True(t, strings.Contains(string(out), tc.want), "output %q lacks %q", out, tc.want)
		})
	}
}

func TestSweepCommand(t *testing.T) {
	b := newBed(t, 2)
	cfg := b.config("floe", "")
	b.produce(200)
	p := b.start(cfg)
	b.waitCommitted(200, p)
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM))

	orphan := filepath.Join(b.dir, "warehouse", "itest.db", "events", "data", "00000-0-abandoned.parquet")
	require.NoError(t, os.WriteFile(orphan, []byte("from a failed commit"), 0o644))
	past := time.Now().Add(-48 * time.Hour)
	require.NoError(t, os.Chtimes(orphan, past, past))

	out, err := exec.Command(floeBin, "sweep", "--config", cfg).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "table itest.events: 1 unreferenced files older than 24h0m0s")
	require.Contains(t, string(out), "dry run")
	require.FileExists(t, orphan)

	out, err = exec.Command(floeBin, "sweep", "--config", cfg, "--apply").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "deleted")
	require.NoFileExists(t, orphan)
	b.requireExactlyOnce(200)

	cmd := exec.Command(floeBin, "sweep", "--config", cfg, "--older-than", "10m")
	out, _ = cmd.CombinedOutput()
	require.Equal(t, 2, cmd.ProcessState.ExitCode())
	require.Contains(t, string(out), "--older-than must be at least 1h0m0s")

	// A table whose batches wait two hours for their commit (files written
	// ahead): a 90-minute sweep could delete them before they are referenced.
	yaml := strings.Replace(readFile(t, cfg), "commit-interval: 500ms", "commit-interval: 2h", 1)
	require.NoError(t, os.WriteFile(cfg, []byte(yaml), 0o644))
	cmd = exec.Command(floeBin, "sweep", "--config", cfg, "--older-than", "90m")
	out, _ = cmd.CombinedOutput()
	require.Equal(t, 2, cmd.ProcessState.ExitCode(), string(out))
	require.Contains(t, string(out), "--older-than must be more than 2h15m0s: a data file may wait that long here for the commit that references it")
}

// A SIGTERM while floe is still starting (here: waiting for a catalog that
// accepts connections and never answers) is a clean stop: exit 0. An
// orchestrator that scales a replica down right after starting it must not
// see a failure.
func TestStopWhileStartingExitsZero(t *testing.T) {
	b := newBed(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	cfg := b.config("floe", "")
	data, err := os.ReadFile(cfg)
	require.NoError(t, err)
	i, j := strings.Index(string(data), "catalog:\n"), strings.Index(string(data), "commit:\n")
	require.True(t, i >= 0 && j > i)
	hanging := string(data[:i]) + "catalog:\n  type: rest\n  uri: http://" + ln.Addr().String() + "\n" + string(data[j:])
	require.NoError(t, os.WriteFile(cfg, []byte(hanging), 0o644))

	p := b.start(cfg)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(held) > 0
	}, 60*time.Second, 10*time.Millisecond, "floe never contacted the catalog:\n%s", p.out.String())
	require.Equal(t, 0, p.stop(t, syscall.SIGTERM), p.out.String())
	require.Contains(t, p.out.String(), "stopped while starting; nothing consumed")
}
