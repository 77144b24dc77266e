package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/floe-dev/floe/e2e/internal/floebench"
)

// commitInfo is one line of `floe commits --json`.
type commitInfo struct {
	Table    string `json:"table"`
	CommitID string `json:"commit_id"`
	Writer   struct {
		Instance string `json:"instance"`
	} `json:"writer"`
	Records int64 `json:"added_records"`
	Ranges  []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Start     int64  `json:"start"`
		End       int64  `json:"end"`
	} `json:"ranges"`
}

// verdict is what the judgement found, over all tables.
type verdict struct {
	commits  int // in the tables' histories
	writers  int // distinct (table, floe instance) pairs that committed
	readers  bool
	problems []string
}

func (v *verdict) failf(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

// verify checks every table: commit IDs unique, offset ranges that tile
// each partition from 0 to Kafka's end offset, row counts equal to what was
// produced; then the independent readers' view of the same.
func (b *bench) verify(ctx context.Context, adm *kadm.Client) (*verdict, error) {
	v := &verdict{}
	hist, err := floeCommits(b.o.floe, b.procs[0].cfg)
	if err != nil {
		return nil, err
	}
	byTable := map[string][]commitInfo{}
	for _, c := range hist {
		byTable[c.Table] = append(byTable[c.Table], c)
	}
	ends, err := adm.ListEndOffsets(ctx, b.topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	for i, table := range b.tables {
		topic := b.topics[i]
		end := map[int32]int64{}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Topic == topic {
				end[o.Partition] = o.Offset
			}
		})
		b.checkHistory(v, table, topic, byTable[table], end, b.produced[i])
		if b.o.readers != "" {
			v.readers = true
			if err := b.checkReaders(ctx, v, i, end); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

func (b *bench) checkHistory(v *verdict, table, topic string, hist []commitInfo, end map[int32]int64, produced int) {
	ids := map[string]bool{}
	writers := map[string]bool{}
	type rng struct{ start, end int64 }
	parts := map[int32][]rng{}
	var records int64
	for _, c := range hist {
		if ids[c.CommitID] {
			v.failf("%s: commit ID %s twice in the history", table, c.CommitID)
		}
		ids[c.CommitID] = true
		writers[c.Writer.Instance] = true
		records += c.Records
		for _, r := range c.Ranges {
			if r.Topic != topic {
				v.failf("%s: a commit covers topic %s", table, r.Topic)
				continue
			}
			parts[r.Partition] = append(parts[r.Partition], rng{r.Start, r.End})
		}
	}
	v.commits += len(hist)
	v.writers += len(writers)
	if records != int64(produced) {
		v.failf("%s: commits add %d records, %d were produced", table, records, produced)
	}
	for p, e := range end {
		rs := parts[p]
		sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
		next := int64(0)
		for _, r := range rs {
			if r.start != next {
				v.failf("%s: partition %d: a range starts at %d, expected %d (gap or overlap)", table, p, r.start, next)
			}
			next = r.end
		}
		if next != e {
			v.failf("%s: partition %d: commits reach offset %d, Kafka's end offset is %d", table, p, next, e)
		}
	}
}

func (b *bench) checkReaders(ctx context.Context, v *verdict, t int, end map[int32]int64) error {
	table, topic := b.tables[t], b.topics[t]
	ids := make([]string, b.produced[t])
	for i := range ids {
		ids[i] = floebench.RecordID(t, i)
	}
	out, err := floebench.RunReaders(ctx, b.env["E2E_PYTHON"], b.o.readers, map[string]any{
		"catalog": floebench.ReaderCatalog(b.env, b.o.catalog), "table": table, "group": b.group, "id_column": "id", "expected_ids": ids,
		"partition_column": "_kafka_partition", "offset_column": "_kafka_offset",
	})
	if err != nil {
		return err
	}
	for _, name := range floebench.Readers {
		if p := out[name].RowProblem(name, b.produced[t]); p != "" {
			v.failf("%s: %s", table, p)
		}
	}
	py := out["pyiceberg"]
	if py.Error != "" {
		return nil
	}
	if py.Offsets == nil {
		v.failf("%s: the current snapshot has no floe.offsets.%s", table, b.group)
	} else {
		got := py.Offsets.Topics[topic].Partitions
		for p, e := range end {
			if got[strconv.Itoa(int(p))] != e {
				v.failf("%s: floe.offsets has %d for partition %d, Kafka's end offset is %d", table, got[strconv.Itoa(int(p))], p, e)
			}
		}
	}
	seen := map[string]bool{}
	for _, s := range py.Snapshots {
		if !s.Floe {
			continue
		}
		if seen[s.CommitID] {
			v.failf("%s: PyIceberg sees commit ID %s in two snapshots", table, s.CommitID)
		}
		seen[s.CommitID] = true
	}
	return nil
}

// floeCommits runs `floe commits --config cfg --json`: every table's commit
// history as floe reads it.
func floeCommits(bin, cfg string) ([]commitInfo, error) {
	return floebench.Commits[commitInfo](bin, cfg)
}
