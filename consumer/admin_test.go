package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/offsets"
)

// adminEnv is a kfake cluster with topic "t", a producer and an Admin.
type adminEnv struct {
	kafka *kfake.Cluster
	prod  *kgo.Client
	adm   *Admin
}

func newAdminEnv(t testing.TB, partitions int32) *adminEnv {
	t.Helper()
	kc, prod := newCluster(t, partitions)
	cfg := DefaultConfig()
	cfg.Brokers = kc.ListenAddrs()
	adm, err := NewAdmin(cfg)
	require.NoError(t, err)
	t.Cleanup(adm.Close)
	return &adminEnv{kafka: kc, prod: prod, adm: adm}
}

// produce writes n records to partition p, stamped ts (now when zero).
func (e *adminEnv) produce(t testing.TB, p int32, n int, ts time.Time) {
	t.Helper()
	for range n {
		require.NoError(t, e.prod.ProduceSync(context.Background(), &kgo.Record{Partition: p, Value: []byte("x"), Timestamp: ts}).FirstErr())
	}
}

// deleteBefore deletes partition p's records below offset at.
func (e *adminEnv) deleteBefore(t testing.TB, p int32, at int64) {
	t.Helper()
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "t", Partition: p, At: at})
	res, err := kadm.NewClient(e.prod).DeleteRecords(context.Background(), del)
	require.NoError(t, err)
	require.NoError(t, res.Error())
}

func TestAdminMembers(t *testing.T) {
	e := newAdminEnv(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	members, err := e.adm.Members(ctx, "g")
	require.NoError(t, err)
	require.Empty(t, members, "an unknown group has no members")

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...), kgo.ClientID("floe-1"),
		kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"))
	require.NoError(t, err)
	defer cl.Close()
	e.produce(t, 0, 1, time.Time{})
	require.Equal(t, 1, cl.PollFetches(ctx).NumRecords(), "the member joined and consumed")
	require.Eventually(t, func() bool {
		members, err = e.adm.Members(ctx, "g")
		require.NoError(t, err)
		return len(members) == 1
	}, waitFor, tick)
	require.Regexp(t, `^floe-1@.+`, members[0])
}

func TestAdminLostRanges(t *testing.T) {
	e := newAdminEnv(t, 2)
	e.produce(t, 0, 10, time.Time{})
	e.produce(t, 1, 10, time.Time{})
	e.deleteBefore(t, 0, 6)
	ctx := context.Background()

	lost, err := e.adm.LostRanges(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, lost)
	lost, err = e.adm.LostRanges(ctx, []offsets.Range{
		{Topic: "t", Partition: 0, Start: 2, End: 8},
		{Topic: "t", Partition: 1, Start: 2, End: 8}, // all there
		{Topic: "t", Partition: 0, Start: 1, End: 4}, // all gone
		{Topic: "t", Partition: 0, Start: 6, End: 9}, // starts where Kafka does
	})
	require.NoError(t, err)
	require.Equal(t, []Lost{
		{Range: offsets.Range{Topic: "t", Partition: 0, Start: 2, End: 6}, First: 6},
		{Range: offsets.Range{Topic: "t", Partition: 0, Start: 1, End: 4}, First: 6},
	}, lost)
}

func TestAdminPlanRange(t *testing.T) {
	e := newAdminEnv(t, 3)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for p := range int32(3) {
		e.produce(t, p, 10, t0)                // 0-9
		e.produce(t, p, 10, t0.Add(time.Hour)) // 10-19
	}
	e.deleteBefore(t, 2, 12) // partition 2 starts at 12, stamped t0+1h
	ctx := context.Background()

	tests := []struct {
		name       string
		partitions []int32
		from, to   Position
		want       map[int32]Bounds
		reason     RangeReason
		errPart    int32
	}{
		{"offsets", []int32{1, 0, 1}, AtOffset(3), AtOffset(15), map[int32]Bounds{0: {3, 15}, 1: {3, 15}}, 0, 0},
		{"first to end", nil, FirstOffset(), EndOffset(), map[int32]Bounds{0: {0, 20}, 1: {0, 20}, 2: {12, 20}}, 0, 0},
		{"times", []int32{0}, AtTime(t0.Add(time.Minute)), AtTime(t0.Add(2 * time.Hour)), map[int32]Bounds{0: {10, 20}}, 0, 0},
		{"empty", []int32{1}, AtOffset(5), AtOffset(5), map[int32]Bounds{1: {5, 5}}, 0, 0},
		{"time after the last record", []int32{0}, AtTime(t0.Add(3 * time.Hour)), EndOffset(), map[int32]Bounds{0: {20, 20}}, 0, 0},
		{"time before the first record", []int32{1}, AtTime(t0.Add(-time.Hour)), AtOffset(20), map[int32]Bounds{1: {0, 20}}, 0, 0},
		{"no partition", []int32{0, 7}, AtOffset(0), AtOffset(1), nil, NoPartition, 7},
		{"deleted", nil, AtOffset(3), AtOffset(15), nil, FromDeleted, 2},
		{"expired", []int32{2}, AtTime(t0), EndOffset(), nil, FromExpired, 2},
		{"from past the end", []int32{1}, AtOffset(21), EndOffset(), nil, FromPastEnd, 1},
		{"to past the end", []int32{0}, AtOffset(0), AtOffset(100), nil, ToPastEnd, 0},
		{"from after to", []int32{0}, AtOffset(8), AtOffset(4), nil, FromAfterTo, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := e.adm.PlanRange(ctx, "t", tt.partitions, tt.from, tt.to)
			if tt.reason != 0 {
				var re *RangeError
				require.ErrorAs(t, err, &re)
				require.Equal(t, tt.reason, re.Reason, re.Error())
				require.Equal(t, tt.errPart, re.Partition)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, plan.Bounds)
			var n int64
			for p, b := range tt.want {
				n += b.To - b.From
				require.Contains(t, plan.Partitions, p)
			}
			require.Len(t, plan.Partitions, len(tt.want))
			require.IsIncreasing(t, plan.Partitions)
			require.Equal(t, n, plan.Offsets)
		})
	}

	// An expired start says which record Kafka starts at.
	_, err := e.adm.PlanRange(ctx, "t", []int32{2}, AtTime(t0), EndOffset())
	var re *RangeError
	require.ErrorAs(t, err, &re)
	require.Equal(t, int64(12), re.First)
	require.True(t, re.FirstTime.Equal(t0.Add(time.Hour)), re.FirstTime)

	_, err = e.adm.PlanRange(ctx, "nope", nil, FirstOffset(), EndOffset())
	require.ErrorAs(t, err, &re)
	require.Equal(t, NoTopic, re.Reason)
}

func TestAdminPlanRangeEstimatesBytes(t *testing.T) {
	e := newAdminEnv(t, 2)
	e.produce(t, 0, 100, time.Time{})
	e.produce(t, 1, 100, time.Time{})
	ctx := context.Background()
	all, err := e.adm.PlanRange(ctx, "t", nil, FirstOffset(), EndOffset())
	require.NoError(t, err)
	require.Positive(t, all.Bytes)
	half, err := e.adm.PlanRange(ctx, "t", []int32{0}, AtOffset(0), AtOffset(50))
	require.NoError(t, err)
	require.InDelta(t, float64(all.Bytes)/4, float64(half.Bytes), float64(all.Bytes)/100,
		"a quarter of the offsets is about a quarter of the log")
}
