package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/config"
	"github.com/floe-dev/floe/consumer"
	"github.com/floe-dev/floe/offsets"
)

// errRefused marks work floe will not do (exit code 3): too large for it.
var errRefused = errors.New("refused")

// replayArgs are the command-line arguments of `floe replay`.
type replayArgs struct {
	topic, partitions, from, to, table, branch string
	dryRun                                     bool
}

// replayPlan is a replay resolved against Kafka: exact offsets per
// partition, the estimate and the ID that names its progress in the table.
type replayPlan struct {
	topic    string
	table    string
	branch   string
	bounds   map[int32]consumer.Bounds
	parts    []int32 // sorted
	offsets  int64   // sum of to - from
	estimate int64   // bytes
	id       string
	args     replayArgs // as given: they name the replay
}

// propReplayRange is the table property holding a replay's range as its
// first run resolved it: later runs of the same command use it, so
// `--to end` or a time means the same offsets every time.
func propReplayRange(id string) string { return "floe.replay." + id + ".range" }

func (p *replayPlan) group() string { return "replay-" + p.id }

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var a replayArgs
	fs.StringVar(&a.topic, "topic", "", "the Kafka topic to replay (required)")
	fs.StringVar(&a.partitions, "partitions", "", "comma-separated partitions (default: all)")
	fs.StringVar(&a.from, "from", "", "first offset, RFC 3339 time, or earliest (required)")
	fs.StringVar(&a.to, "to", "", "end offset (exclusive), RFC 3339 time, or end (required)")
	fs.StringVar(&a.table, "table", "", "the configured table to replay into (required)")
	fs.StringVar(&a.branch, "branch", "", "commit to this Iceberg branch instead of main (created if missing)")
	fs.BoolVar(&a.dryRun, "dry-run", false, "resolve the range and print the plan; write nothing")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	for _, req := range []struct{ name, v string }{{"topic", a.topic}, {"from", a.from}, {"to", a.to}, {"table", a.table}} {
		if req.v == "" {
			return fmt.Errorf("%w: --%s is required", errUsage, req.name)
		}
	}
	var tc *config.Table
	for i := range cfg.Tables {
		if cfg.Tables[i].Name == a.table {
			tc = &cfg.Tables[i]
		}
	}
	if tc == nil {
		return fmt.Errorf("%w: --table %q is not in the config's tables (its schema, codec and on-error settings apply to the replay)", errUsage, a.table)
	}
	if a.branch == "main" {
		a.branch = ""
	}
	logger := newLogger(cfg.Log, stderr)

	plan, err := planReplay(ctx, cfg, a, logger)
	if err != nil {
		return err
	}
	printPlan(stdout, plan)
	if plan.offsets == 0 {
		fmt.Fprintln(stdout, "the range is empty: nothing to replay")
		return nil
	}
	if plan.estimate > cfg.Replay.MaxBytes {
		return fmt.Errorf("%w: the range is about %s of Kafka log, over replay.max-bytes (%s). "+
			"A backfill this large belongs on a distributed engine: run it with Spark or Flink and the Iceberg sink, "+
			"or split it into smaller ranges, or raise replay.max-bytes (e.g. --set replay.max-bytes=%s) if floe should do it",
			errRefused, humanBytes(plan.estimate), humanBytes(cfg.Replay.MaxBytes), humanBytes(plan.estimate+1<<20))
	}
	return runReplay(ctx, cfg, *tc, plan, a.dryRun, logger, stdout)
}

// planReplay resolves the range against Kafka and checks it, before
// anything is written.
func planReplay(ctx context.Context, cfg *config.Config, a replayArgs, logger *slog.Logger) (*replayPlan, error) {
	adm, closeAdm, err := kafkaAdmin(cfg, logger)
	if err != nil {
		return nil, err
	}
	defer closeAdm()
	md, err := adm.Metadata(ctx, a.topic)
	if err != nil {
		return nil, fmt.Errorf("read kafka metadata from %v: %w", cfg.Kafka.Brokers, err)
	}
	td, ok := md.Topics[a.topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("%w: topic %q does not exist or is not readable (%v)", errUsage, a.topic, td.Err)
	}
	all := td.Partitions.Numbers()
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	parts, err := selectPartitions(a.topic, a.partitions, all)
	if err != nil {
		return nil, err
	}
	starts, err := listed(adm.ListStartOffsets(ctx, a.topic))
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", a.topic, err)
	}
	// read_committed: the end of what a replay can read is the last stable
	// offset (an open transaction's records are not decided yet).
	ends, err := listed(adm.ListCommittedOffsets(ctx, a.topic))
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", a.topic, err)
	}
	from, err := resolveBound(ctx, adm, a.topic, "from", a.from, starts, ends)
	if err != nil {
		return nil, err
	}
	to, err := resolveBound(ctx, adm, a.topic, "to", a.to, starts, ends)
	if err != nil {
		return nil, err
	}
	plan := &replayPlan{topic: a.topic, table: a.table, branch: a.branch, parts: parts,
		bounds: map[int32]consumer.Bounds{}, args: a}
	for _, p := range parts {
		f, t, first, end := from[p], to[p], starts[p].Offset, ends[p].Offset
		switch {
		case f.Offset < first:
			return nil, fmt.Errorf("%w: %s partition %d: offset %d no longer exists in Kafka (deleted by retention or DeleteRecords); "+
				"the first available offset is %d", errUsage, a.topic, p, f.Offset, first)
		case f.expired:
			return nil, fmt.Errorf("%w: %s partition %d: records from %s may have been deleted by retention: "+
				"the first available offset %d is newer (%s); replay from --from %d to accept that",
				errUsage, a.topic, p, a.from, first, time.UnixMilli(f.ts).UTC().Format(time.RFC3339Nano), first)
		case f.Offset > end:
			return nil, fmt.Errorf("%w: %s partition %d: --from %s is offset %d, past the end of the partition (%d)",
				errUsage, a.topic, p, a.from, f.Offset, end)
		case t.Offset > end:
			return nil, fmt.Errorf("%w: %s partition %d: --to %s is offset %d, past the end of the partition (%d, its last stable offset)",
				errUsage, a.topic, p, a.to, t.Offset, end)
		case f.Offset > t.Offset:
			return nil, fmt.Errorf("%w: %s partition %d: --from %s (offset %d) is after --to %s (offset %d)",
				errUsage, a.topic, p, a.from, f.Offset, a.to, t.Offset)
		}
		plan.bounds[p] = consumer.Bounds{From: f.Offset, To: t.Offset}
		plan.offsets += t.Offset - f.Offset
	}
	if plan.estimate, err = estimateBytes(ctx, adm, a.topic, plan.bounds, starts, ends); err != nil {
		return nil, err
	}
	plan.id = replayID(plan)
	return plan, nil
}

func listed(l kadm.ListedOffsets, err error) (map[int32]kadm.ListedOffset, error) {
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]kadm.ListedOffset{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o })
	return out, nil
}

// selectPartitions parses --partitions against the topic's partitions.
func selectPartitions(topic, spec string, all []int32) ([]int32, error) {
	if spec == "" {
		return all, nil
	}
	exists := map[int32]bool{}
	for _, p := range all {
		exists[p] = true
	}
	seen := map[int32]bool{}
	var out []int32
	for _, s := range strings.Split(spec, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: --partitions: %q is not a partition number", errUsage, s)
		}
		p := int32(n)
		if !exists[p] {
			return nil, fmt.Errorf("%w: --partitions: topic %s has no partition %d (it has %d partitions, 0-%d)",
				errUsage, topic, p, len(all), len(all)-1)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// bound is one resolved end of the range for one partition.
type bound struct {
	Offset  int64
	ts      int64 // for a time: the timestamp of the record at Offset
	expired bool  // for a time: records at or after it may have been deleted
}

// resolveBound turns --from or --to into an offset per partition: a
// number is the same offset everywhere; a time is the first offset whose
// record timestamp is at or after it (ListOffsetsAfterMilli), so a time
// range [t1, t2) holds the records stamped t1 <= ts < t2.
func resolveBound(ctx context.Context, adm *kadm.Client, topic, name, spec string, starts, ends map[int32]kadm.ListedOffset) (map[int32]bound, error) {
	out := map[int32]bound{}
	switch spec {
	case "earliest":
		for p, o := range starts {
			out[p] = bound{Offset: o.Offset}
		}
		return out, nil
	case "end":
		for p, o := range ends {
			out[p] = bound{Offset: o.Offset}
		}
		return out, nil
	}
	if n, err := strconv.ParseInt(spec, 10, 64); err == nil {
		if n < 0 {
			return nil, fmt.Errorf("%w: --%s: offset %d is negative", errUsage, name, n)
		}
		for p := range ends {
			out[p] = bound{Offset: n}
		}
		return out, nil
	}
	t, err := time.Parse(time.RFC3339Nano, spec)
	if err != nil {
		return nil, fmt.Errorf("%w: --%s: want an offset, an RFC 3339 time (2026-11-26T10:00:00Z) or %s, got %q",
			errUsage, name, map[string]string{"from": "earliest", "to": "end"}[name], spec)
	}
	l, err := listed(adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic))
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s at %s: %w", topic, spec, err)
	}
	for p, o := range l {
		b := bound{Offset: o.Offset, ts: o.Timestamp}
		if o.Offset < 0 || o.Offset > ends[p].Offset {
			b.Offset = ends[p].Offset // no record at or after t (yet)
		}
		// The first record Kafka still has is already after t: records
		// between t and it may have been deleted, and nothing says which.
		first := starts[p].Offset
		b.expired = name == "from" && first > 0 && b.Offset == first && o.Timestamp > t.UnixMilli()
		out[p] = b
	}
	return out, nil
}

// estimateBytes prorates each partition's log size (DescribeLogDirs, the
// largest replica) by the share of its offsets the range covers.
func estimateBytes(ctx context.Context, adm *kadm.Client, topic string, bounds map[int32]consumer.Bounds, starts, ends map[int32]kadm.ListedOffset) (int64, error) {
	set := kadm.TopicsSet{}
	for p := range bounds {
		set.Add(topic, p)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, set)
	if err != nil {
		return 0, fmt.Errorf("estimate the range's size: describe log dirs of %s: %w", topic, err)
	}
	var total float64
	for p, b := range bounds {
		var size int64
		for _, broker := range dirs {
			if d, ok := broker.LookupPartition(topic, p); ok && d.Size > size {
				size = d.Size
			}
		}
		span := ends[p].Offset - starts[p].Offset
		if span <= 0 || b.To <= b.From {
			continue
		}
		total += float64(size) * float64(b.To-b.From) / float64(span)
	}
	return int64(total), nil
}

// replayID names a replay by the command that asks for it: topic,
// partitions, bounds as given (an offset, a time, earliest, end), table and
// branch. The same command is the same replay, whose progress the table
// keeps under floe.offsets.replay-<id> and whose resolved range under
// floe.replay.<id>.range: running it again adds nothing even when `end`
// or `earliest` would resolve differently now.
func replayID(p *replayPlan) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "v2\x00%s\x00%s\x00%s\x00%s\x00%s", p.topic, p.table, p.branch, p.args.from, p.args.to)
	for _, part := range p.parts {
		fmt.Fprintf(&sb, "\x00%d", part)
	}
	sum := sha256.Sum256([]byte(sb.String()))
	return hex.EncodeToString(sum[:6])
}

// useRecordedRange replaces the plan's bounds with those the replay's first
// run recorded in the table (props), or returns the property that records
// the plan's own when there are none yet.
func (p *replayPlan) useRecordedRange(props map[string]string) (recorded bool, record map[string]string, err error) {
	key := propReplayRange(p.id)
	if v, ok := props[key]; ok {
		var bounds map[int32]consumer.Bounds
		if err := json.Unmarshal([]byte(v), &bounds); err != nil {
			return false, nil, fmt.Errorf("table property %s: %w", key, err)
		}
		p.bounds, p.offsets = bounds, 0
		for _, part := range p.parts {
			b, ok := bounds[part]
			if !ok {
				return false, nil, fmt.Errorf("table property %s has no range for partition %d", key, part)
			}
			p.offsets += b.To - b.From
		}
		return true, nil, nil
	}
	v, _ := json.Marshal(p.bounds)
	return false, map[string]string{key: string(v)}, nil
}

func printPlan(w io.Writer, p *replayPlan) {
	target := p.table
	if p.branch != "" {
		target += " (branch " + p.branch + ")"
	}
	fmt.Fprintf(w, "replay %s: topic %s → %s, %d offsets, about %s of Kafka log (log-dir size prorated by offsets)\n",
		p.id, p.topic, target, p.offsets, humanBytes(p.estimate))
	fmt.Fprintf(w, "  ranges [from,to): %s\n", p.rangeText())
	fmt.Fprintf(w, "  progress is kept in the table under %s\n", offsets.Key(p.group()))

}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// runReplay opens the table, reads the range and commits it.
func runReplay(ctx context.Context, cfg *config.Config, tc config.Table, plan *replayPlan, dryRun bool, logger *slog.Logger, stdout io.Writer) error {
	reg := newRegistry()
	ctx, cat, store, err := openCatalog(ctx, *cfg, reg)
	if err != nil {
		return err
	}
	defer store.Close()
	defer closeCatalog(cat)

	if dryRun {
		return dryRunReplay(ctx, cat, plan, stdout)
	}
	rep := &replayReport{}
	kafkaOpts := consumer.ClientOptions(logger, reg)
	var cons *consumer.Consumer
	hooks := committer.Hooks{
		Released: func(n int64) { cons.Released(n) },
		Fenced:   func(t string, p int32, g uint64, n int64) { cons.Fenced(t, p, g, n) },
		Health:   func(table string, ok bool) { cons.TableHealth(table, ok) },
		Landed:   rep.landed,
	}
	com, route, err := openTable(ctx, cat, *cfg, tc, tableTarget{Group: plan.group(), Branch: plan.branch, Topics: []string{plan.topic}, Kafka: kafkaOpts},
		newIdentity(), hooks, logger, reg)
	if err != nil {
		return err
	}
	if err := recordRange(ctx, cat, plan, stdout); err != nil {
		return err
	}
	stored, err := com.Offsets(ctx)
	if err != nil {
		return err
	}
	remaining, committed := plan.progress(stored)
	if remaining == 0 {
		fmt.Fprintf(stdout, "already done: the table holds this replay's %d offsets; nothing added\n", plan.offsets)
		tbl, err := loadTable(ctx, cat, plan.table)
		if err != nil {
			return err
		}
		hist, err := offsets.History(tbl.Metadata(), plan.group(), plan.branch)
		if err != nil {
			return err
		}
		printHistory(stdout, plan.table, tbl.Properties()[committer.PropOwner], plan.group(), hist)
		return nil
	}
	if committed > 0 {
		fmt.Fprintf(stdout, "resuming: %d of %d offsets already committed by an earlier run\n", committed, plan.offsets)
	}

	cons, err = consumer.New(cfg.Kafka, []*consumer.Route{route}, logger, reg, kafkaOpts...)
	if err != nil {
		return err
	}
	prog := newProgress(stdout, remaining, cons.RangeRead)
	started := time.Now()

	rs := newRunState(ctx)
	defer rs.stop()
	consumeCtx, commitCtx, fail, stopCommitting := rs.consumeCtx, rs.commitCtx, rs.fail, rs.stopCommitting
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); fail(com.Run(commitCtx)) }()
	go func() { defer wg.Done(); prog.run(commitCtx) }()
	_, err = cons.RunRange(consumeCtx, plan.topic, plan.bounds)
	fail(err)

	// Every buffer is sealed: commit the rest. After a signal this is
	// bounded by shutdown.timeout, as for `floe run`.
	interrupted := ctx.Err() != nil
	limit := cfg.Commit.GiveUpAfter
	if interrupted || limit <= 0 {
		limit = cfg.Shutdown.Timeout
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer cancel()
	for {
		err := com.Commit(fctx)
		if err == nil {
			break
		}
		if errors.Is(err, committer.ErrCommitTimeout) && fctx.Err() == nil {
			continue
		}
		fail(err)
		break
	}
	stopCommitting()
	wg.Wait()
	prog.finish()

	stored, err = com.Offsets(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	left, _ := plan.progress(stored)
	rep.print(stdout, plan, remaining-left, time.Since(started))
	if err := rs.err(); err != nil {
		return fmt.Errorf("replay %s: %w; %d offsets left: running the same command again resumes", plan.id, err, left)
	}
	if left > 0 {
		return fmt.Errorf("replay %s interrupted: %d of %d offsets left; running the same command again resumes where it stopped",
			plan.id, left, plan.offsets)
	}
	fmt.Fprintf(stdout, "replay %s done: %d offsets of %s are in %s exactly once\n", plan.id, plan.offsets, plan.topic, plan.table)
	return nil
}

// recordRange makes the plan use the range the replay's first run recorded
// in the table, or records the plan's (a table property, before anything
// of the replay is committed).
func recordRange(ctx context.Context, cat icecat.Catalog, plan *replayPlan, stdout io.Writer) error {
	tbl, err := loadTable(ctx, cat, plan.table)
	if err != nil {
		return err
	}
	before := maps.Clone(plan.bounds)
	recorded, record, err := plan.useRecordedRange(tbl.Properties())
	if err != nil {
		return err
	}
	if recorded {
		if !maps.Equal(before, plan.bounds) {
			fmt.Fprintf(stdout, "  this replay's range was resolved by its first run and is kept: %s\n", plan.rangeText())
		}
		return nil
	}
	txn := tbl.NewTransaction()
	if err := txn.SetProperties(record); err != nil {
		return err
	}
	if _, err := txn.Commit(ctx); err != nil {
		return fmt.Errorf("record the replay's range in %s: %w", plan.table, err)
	}
	return nil
}

func (p *replayPlan) rangeText() string {
	var ranges []string
	for _, part := range p.parts {
		b := p.bounds[part]
		ranges = append(ranges, fmt.Sprintf("%s[%d]:%d-%d", p.topic, part, b.From, b.To))
	}
	return strings.Join(ranges, " ")
}

// dryRunReplay says how much a replay would read, writing nothing: the
// table is only loaded, not created.
func dryRunReplay(ctx context.Context, cat icecat.Catalog, plan *replayPlan, stdout io.Writer) error {
	stored := offsets.Map{}
	ident, err := committer.ParseIdentifier(plan.table)
	if err != nil {
		return err
	}
	tbl, err := cat.LoadTable(ctx, ident)
	switch {
	case errors.Is(err, icecat.ErrNoSuchTable):
		fmt.Fprintf(stdout, "table %s does not exist yet: a replay would create it\n", plan.table)
	case err != nil:
		return fmt.Errorf("load table %s: %w", plan.table, err)
	default:
		if recorded, _, err := plan.useRecordedRange(tbl.Properties()); err != nil {
			return err
		} else if recorded {
			fmt.Fprintf(stdout, "  the range its first run resolved: %s\n", plan.rangeText())
		}
		if stored, _, err = offsets.Read(tbl.Metadata(), plan.group(), plan.branch); err != nil {
			return err
		}
	}
	remaining, committed := plan.progress(stored)
	if remaining == 0 {
		fmt.Fprintf(stdout, "already done: the table holds this replay's %d offsets\n", plan.offsets)
		return nil
	}
	fmt.Fprintf(stdout, "dry run: would read %d offsets (%d already committed by earlier runs); nothing written\n", remaining, committed)
	return nil
}

// progress returns the offsets still to replay and those already committed,
// given the replay's stored offsets.
func (p *replayPlan) progress(stored offsets.Map) (remaining, committed int64) {
	for _, part := range p.parts {
		b := p.bounds[part]
		at := b.From
		if next, ok := stored.Get(p.topic, part); ok {
			at = min(max(next, b.From), b.To)
		}
		remaining += b.To - at
		committed += at - b.From
	}
	return remaining, committed
}

// replayReport collects the commits of a replay for its final report.
type replayReport struct {
	mu      sync.Mutex
	commits []committer.Landed
}

func (r *replayReport) landed(l committer.Landed) {
	r.mu.Lock()
	r.commits = append(r.commits, l)
	r.mu.Unlock()
}

func (r *replayReport) print(w io.Writer, plan *replayPlan, offsets int64, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var records, letters int
	var rows int64
	for _, c := range r.commits {
		records += c.Records
		rows += c.Rows
		letters += c.DeadLetters
	}
	fmt.Fprintf(w, "replayed %d offsets in %s: %d records, %d rows, %d dead letters, %d skipped or other offsets; %d commits\n",
		offsets, took.Round(time.Millisecond), records, rows, letters, offsets-int64(rows)-int64(letters), len(r.commits))
	for _, c := range r.commits {
		var ranges []string
		for _, rg := range c.Ranges {
			ranges = append(ranges, fmt.Sprintf("%s[%d]:%d-%d", rg.Topic, rg.Partition, rg.Start, rg.End))
		}
		fmt.Fprintf(w, "  snapshot %d  commit %s  %s  rows %d  dead letters %d  %s\n",
			c.SnapshotID, c.CommitID, c.Outcome, c.Rows, c.DeadLetters, strings.Join(ranges, " "))
	}
}
