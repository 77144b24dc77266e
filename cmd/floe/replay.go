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
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go"
	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/config"
	"github.com/floe-dev/floe/consumer"
	"github.com/floe-dev/floe/offsets"
	"github.com/floe-dev/floe/tablecommit"
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
	tc, err := replayTable(cfg, a.table, a.topic)
	if err != nil {
		return err
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
	parts, err := parsePartitions(a.partitions)
	if err != nil {
		return nil, err
	}
	from, err := parsePosition("from", a.from)
	if err != nil {
		return nil, err
	}
	to, err := parsePosition("to", a.to)
	if err != nil {
		return nil, err
	}
	adm, err := newAdmin(cfg, logger)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	rp, err := adm.PlanRange(ctx, a.topic, parts, from, to)
	if re := (*consumer.RangeError)(nil); errors.As(err, &re) {
		return nil, fmt.Errorf("%w: %s", errUsage, rangeMessage(re, a))
	} else if err != nil {
		return nil, err
	}
	plan := &replayPlan{topic: a.topic, table: a.table, branch: a.branch, parts: rp.Partitions,
		bounds: rp.Bounds, offsets: rp.Offsets, estimate: rp.Bytes, args: a}
	plan.id = replayID(plan)
	return plan, nil
}

// parsePartitions parses --partitions; none means all.
func parsePartitions(spec string) ([]int32, error) {
	if spec == "" {
		return nil, nil
	}
	var out []int32
	for _, s := range strings.Split(spec, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: --partitions: %q is not a partition number", errUsage, s)
		}
		out = append(out, int32(n))
	}
	return out, nil
}

// parsePosition parses --from or --to (name): an offset, the same in every
// partition; a time, the first offset whose record timestamp is at or after
// it, so a time range [t1, t2) holds the records stamped t1 <= ts < t2;
// earliest; or end (the last stable offset).
func parsePosition(name, spec string) (consumer.Position, error) {
	switch spec {
	case "earliest":
		return consumer.FirstOffset(), nil
	case "end":
		return consumer.EndOffset(), nil
	}
	if n, err := strconv.ParseInt(spec, 10, 64); err == nil {
		if n < 0 {
			return consumer.Position{}, fmt.Errorf("%w: --%s: offset %d is negative", errUsage, name, n)
		}
		return consumer.AtOffset(n), nil
	}
	t, err := time.Parse(time.RFC3339Nano, spec)
	if err != nil {
		return consumer.Position{}, fmt.Errorf("%w: --%s: want an offset, an RFC 3339 time (2026-11-26T10:00:00Z) or %s, got %q",
			errUsage, name, map[string]string{"from": "earliest", "to": "end"}[name], spec)
	}
	return consumer.AtTime(t), nil
}

// rangeMessage says, in the command's terms, why Kafka cannot serve the
// range a asks for.
func rangeMessage(e *consumer.RangeError, a replayArgs) string {
	where := fmt.Sprintf("%s partition %d", e.Topic, e.Partition)
	switch e.Reason {
	case consumer.NoTopic:
		return fmt.Sprintf("topic %q does not exist or is not readable (%v)", e.Topic, e.Err)
	case consumer.NoPartition:
		return fmt.Sprintf("--partitions: topic %s has no partition %d (it has %d partitions, 0-%d)",
			e.Topic, e.Partition, e.Partitions, e.Partitions-1)
	case consumer.FromDeleted:
		return fmt.Sprintf("%s: offset %d no longer exists in Kafka (deleted by retention or DeleteRecords); "+
			"the first available offset is %d", where, e.From, e.First)
	case consumer.FromExpired:
		return fmt.Sprintf("%s: records from %s may have been deleted by retention: "+
			"the first available offset %d is newer (%s); replay from --from %d to accept that",
			where, a.from, e.First, e.FirstTime.UTC().Format(time.RFC3339Nano), e.First)
	case consumer.FromPastEnd:
		return fmt.Sprintf("%s: --from %s is offset %d, past the end of the partition (%d)", where, a.from, e.From, e.End)
	case consumer.ToPastEnd:
		return fmt.Sprintf("%s: --to %s is offset %d, past the end of the partition (%d, its last stable offset)",
			where, a.to, e.To, e.End)
	case consumer.FromAfterTo:
		return fmt.Sprintf("%s: --from %s (offset %d) is after --to %s (offset %d)", where, a.from, e.From, a.to, e.To)
	}
	return e.Error()
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
// replayTable is the configured table named table, else the table a
// template makes for topic under that name; nil if neither. A template
// must take the topic (list it or match it).
func replayTable(cfg *config.Config, table, topic string) (*config.Table, error) {
	for i := range cfg.Tables {
		if cfg.Tables[i].Name == table {
			return &cfg.Tables[i], nil
		}
	}
	for _, t := range cfg.Tables {
		if !t.IsTemplate() || t.ForTopic(topic).Name != table {
			continue
		}
		re, _ := t.Pattern() // validated
		if !slices.Contains(t.Topics, topic) && (re == nil || !re.MatchString(topic)) {
			return nil, fmt.Errorf("%w: --table %s: template %s does not take topic %q (not in its topics, no match for its topics-pattern)", errUsage, table, t.Name, topic)
		}
		tc := t.ForTopic(topic)
		return &tc, nil
	}
	return nil, nil
}

func runReplay(ctx context.Context, cfg *config.Config, tc config.Table, plan *replayPlan, dryRun bool, logger *slog.Logger, stdout io.Writer) error {
	p, err := openPipeline(ctx, *cfg, logger)
	if err != nil {
		return err
	}
	defer p.Close()
	ctx = p.store.Context(ctx)

	if dryRun {
		return dryRunReplay(ctx, p.cat, plan, stdout)
	}
	if from := tc.Properties["floe.template"]; from != "" {
		// A template's table is its topic's: Events.EU must not replay
		// into the table of events.eu, whose name it shares.
		if tbl, err := loadTable(ctx, p.cat, tc.Name); err == nil {
			if owner := tbl.Properties()["floe.topic"]; owner != plan.topic {
				return fmt.Errorf("table %s is topic %q's (its floe.topic property), not %q's", tc.Name, owner, plan.topic)
			}
		}
	}
	rep := &replayReport{}
	com, route, err := p.openTable(ctx, tc, tableTarget{Group: plan.group(), Branch: plan.branch, Topics: []string{plan.topic},
		OnLanded: rep.landed, Replay: true})
	if err != nil {
		return err
	}
	if err := recordRange(ctx, p.cat, plan, stdout); err != nil {
		return err
	}
	stored, err := com.Offsets(ctx)
	if err != nil {
		return err
	}
	remaining, committed := plan.progress(stored)
	if remaining == 0 {
		fmt.Fprintf(stdout, "already done: the table holds this replay's %d offsets; nothing added\n", plan.offsets)
		tbl, err := loadTable(ctx, p.cat, plan.table)
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

	if err := p.newConsumer([]*consumer.Route{route}); err != nil {
		return err
	}
	prog := newProgress(stdout, remaining, p.consumer.RangeRead)
	started := time.Now()
	// The range's last buffers are sealed when reading ends: the final
	// commits land them, retried until commit.give-up-after (shutdown.timeout
	// after a signal, as for `floe run`).
	pctx, stopProgress := context.WithCancel(context.WithoutCancel(ctx))
	drawn := make(chan struct{})
	go func() { defer close(drawn); prog.run(pctx) }()
	runErr := p.consumeThenCommit(ctx, func(ctx context.Context) error {
		_, err := p.consumer.RunRange(ctx, plan.topic, plan.bounds)
		return err
	}, finalCommits{timeout: cfg.Shutdown.Timeout, finished: cfg.Commit.GiveUpAfter, retry: true})
	stopProgress()
	<-drawn
	prog.finish()

	stored, err = com.Offsets(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	left, _ := plan.progress(stored)
	rep.print(stdout, plan, remaining-left, time.Since(started))
	if runErr != nil {
		return fmt.Errorf("replay %s: %w; %d offsets left: running the same command again resumes", plan.id, runErr, left)
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
	before := maps.Clone(plan.bounds)
	recorded := false
	// Through floe's commit loop: a commit by a running floe (or its
	// maintenance) between the load and this one is a conflict that is
	// retried on the new head, not a failed replay.
	commit := &tablecommit.Commit{Target: tablecommit.Target{Name: plan.table,
		Load: func(ctx context.Context) (*table.Table, error) {
			tbl, err := loadTable(ctx, cat, plan.table)
			if errors.Is(err, icecat.ErrNoSuchTable) {
				return nil, tablecommit.Fatal(err)
			}
			return tbl, err
		}}}
	ctx, cancel := context.WithTimeout(ctx, recordRangeTimeout)
	defer cancel()
	err := commit.Run(ctx, recordRangeBackoff, func(ctx context.Context) error {
		_, err := commit.Once(ctx, func(_ context.Context, tbl *table.Table, txn *table.Transaction) error {
			var record iceberg.Properties
			var err error
			recorded, record, err = plan.useRecordedRange(tbl.Properties())
			switch {
			case err != nil:
				return tablecommit.Fatal(err)
			case recorded:
				return tablecommit.ErrNothing
			}
			return txn.SetProperties(record)
		})
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("record the replay's range in %s: %w", plan.table, err)
	}
	if recorded && !maps.Equal(before, plan.bounds) {
		fmt.Fprintf(stdout, "  this replay's range was resolved by its first run and is kept: %s\n", plan.rangeText())
	}
	return nil
}

// recordRangeTimeout bounds recording a replay's range, retries included.
const recordRangeTimeout = 2 * time.Minute

var recordRangeBackoff = catalog.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}

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

// progress shows how far a replay has read: on a terminal a bar redrawn in
// place with rate and ETA, otherwise a plain line every few seconds (logs
// and CI keep every line).
type progress struct {
	w       io.Writer
	tty     bool
	total   int64
	read    func() int64
	started time.Time
	every   time.Duration
}

func newProgress(w io.Writer, total int64, read func() int64) *progress {
	p := &progress{w: w, tty: isTerminal(w), total: total, read: read, started: time.Now(), every: 5 * time.Second}
	if p.tty {
		p.every = 200 * time.Millisecond
	}
	return p
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// run draws until ctx is done.
func (p *progress) run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.draw(time.Since(p.started))
		}
	}
}

// finish draws the last state and ends the bar's line.
func (p *progress) finish() {
	p.draw(time.Since(p.started))
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) draw(elapsed time.Duration) {
	fmt.Fprint(p.w, p.line(min(p.read(), p.total), elapsed))
}

// line renders one progress state; on a terminal it starts with \r and
// has no newline so the next one overwrites it.
func (p *progress) line(done int64, elapsed time.Duration) string {
	frac := 1.0
	if p.total > 0 {
		frac = float64(done) / float64(p.total)
	}
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	eta := "?"
	switch {
	case done >= p.total:
		eta = "0s"
	case rate > 0:
		eta = time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	stats := fmt.Sprintf("%3.0f%%  %d / %d offsets  %s/s  ETA %s", frac*100, done, p.total, humanCount(rate), eta)
	if !p.tty {
		return fmt.Sprintf("%8s  read %s\n", elapsed.Round(time.Second), stats)
	}
	const width = 30
	n := int(frac * width)
	return "\r[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "] " + stats + "   "
}

func humanCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
