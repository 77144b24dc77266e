package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/config"
	"github.com/floe-dev/floe/consumer"
	"github.com/floe-dev/floe/offsets"
)

// pipeline is floe's main job: one consumer feeding one committer per table,
// plus the HTTP server. `floe run` and `floe demo` both use it.
type pipeline struct {
	cfg        config.Config
	log        *slog.Logger
	reg        *prometheus.Registry
	cat        catalog.Catalog
	store      *committer.ObjectStore
	committers []*committer.Committer
	consumer   *consumer.Consumer
	ln         net.Listener
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func instanceID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newPipeline opens the catalog, loads or creates every table and builds the
// consumer. extra Kafka options are for tests.
func newPipeline(ctx context.Context, cfg config.Config, logger *slog.Logger, extra ...kgo.Opt) (*pipeline, error) {
	reg := newRegistry()
	ctx, cat, store, err := openCatalog(ctx, cfg, reg)
	if err != nil {
		return nil, err
	}
	p := &pipeline{cfg: cfg, log: logger, reg: reg, cat: cat, store: store}
	who := newIdentity()

	kafkaOpts := append(consumer.ClientOptions(logger, reg), extra...)
	var routes []*consumer.Route
	var cons *consumer.Consumer
	hooks := committer.Hooks{
		Released: func(n int64) { cons.Released(n) },
		Committed: func(next map[string]map[int32]int64, newest map[string]map[int32]time.Time) {
			cons.Committed(next, newest)
		},
		Fenced: func(t string, p int32, g uint64, n int64) { cons.Fenced(t, p, g, n) },
		Health: func(table string, ok bool) { cons.TableHealth(table, ok) },
	}
	for _, tc := range cfg.Tables {
		com, route, err := openTable(ctx, cat, cfg, tc, tableTarget{Group: cfg.Kafka.Group, Topics: tc.Topics, Kafka: kafkaOpts},
			who, hooks, logger, reg)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.committers = append(p.committers, com)
		routes = append(routes, route)
	}
	cons, err = consumer.New(cfg.Kafka, routes, logger, reg, kafkaOpts...)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.consumer = cons
	return p, nil
}

// newRegistry is the metrics registry of one floe process.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "floe_build_info", Help: "Always 1; the version label says which floe runs.",
	}, []string{"version"})
	reg.MustRegister(buildInfo)
	buildInfo.WithLabelValues(version).Set(1)
	return reg
}

// newAdmin is a Kafka admin client of the configured brokers, with
// franz-go's log in floe's. The commands that use it serve no /metrics, so
// the client's metrics go to a registry of their own.
func newAdmin(cfg *config.Config, logger *slog.Logger) (*consumer.Admin, error) {
	return consumer.NewAdmin(cfg.Kafka, consumer.ClientOptions(logger, prometheus.NewRegistry())...)
}

func newIdentity() offsets.Writer {
	host, _ := os.Hostname()
	return offsets.Writer{Instance: instanceID(), Host: host, Version: version}
}

// openCatalog opens the object store and the catalog with floe's limits.
// The returned context carries the object store; close both when done.
func openCatalog(ctx context.Context, cfg config.Config, reg prometheus.Registerer) (context.Context, catalog.Catalog, *committer.ObjectStore, error) {
	// Data files, manifests and metadata files go through floe's S3 client
	// (catalog.s3.http) whatever the catalog.
	store, err := committer.NewObjectStore(ctx, cfg.Catalog.S3, reg)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx = store.Context(ctx)
	httpClient := &http.Client{Transport: committer.NewCatalogTransport(cfg.Catalog.HTTP, reg)}
	cat, err := committer.OpenCatalog(ctx, cfg.Catalog, httpClient)
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	return ctx, cat, store, nil
}

// tableTarget says where a table's committer keeps its progress and which
// topics feed it: `floe run` uses kafka.group and the table's topics, a
// replay its own group, one topic and perhaps a branch.
type tableTarget struct {
	Group  string
	Branch string
	Topics []string
	// Kafka are the options of the Kafka clients made for the table (the
	// dead-letter producer): the process's shared ones.
	Kafka []kgo.Opt
}

// openTable loads or creates a configured table (and its dead-letter table)
// and builds its committer and the consumer route that feeds it.
func openTable(ctx context.Context, cat catalog.Catalog, cfg config.Config, tc config.Table, target tableTarget,
	who offsets.Writer, hooks committer.Hooks, logger *slog.Logger, reg prometheus.Registerer,
) (*committer.Committer, *consumer.Route, error) {
	extraCols := metadataColumns(tc.Codec.Metadata)
	tbl, created, err := committer.LoadOrCreateTable(ctx, cat, tc.TableConfig, extraCols)
	if err != nil {
		return nil, nil, err
	}
	if created {
		logger.Info("table created", "table", tc.Name, "location", tbl.Location())
	}
	var dlq *table.Table
	if tc.DLQ.Table != "" {
		dlq, created, err = committer.LoadOrCreateTable(ctx, cat, committer.DLQTableConfig(tc.TableConfig), nil)
		if err != nil {
			return nil, nil, fmt.Errorf("table %s: dlq.table: %w", tc.Name, err)
		}
		if created {
			logger.Info("dead-letter table created", "table", tc.DLQ.Table, "for", tc.Name, "location", dlq.Location())
		}
	}
	var letterTopic committer.LetterWriter
	if tc.DLQ.Topic != "" {
		w := consumer.NewDLQTopic(cfg.Kafka.Brokers, tc.DLQ.Topic, target.Group, tc.Name, version, target.Kafka...)
		if err := w.Check(ctx); err != nil {
			return nil, nil, fmt.Errorf("table %s: %w", tc.Name, err)
		}
		letterTopic = dlqTopic{w}
	}
	com, err := committer.New(cfg.Commit, tc.TableConfig, committer.Deps{
		Catalog: cat, Endpoint: catalogEndpoint(cfg.Catalog), Table: tbl, DLQ: dlq, LetterTopic: letterTopic,
		Group: target.Group, Branch: target.Branch, Identity: who, Hooks: hooks,
	}, logger, reg)
	if err != nil {
		return nil, nil, err
	}
	schema, err := com.ArrowSchema()
	if err != nil {
		return nil, nil, fmt.Errorf("table %s: arrow schema: %w", tc.Name, err)
	}
	dec, err := codec.New(schema, tc.Codec)
	if err != nil {
		return nil, nil, fmt.Errorf("table %s: %w", tc.Name, err)
	}
	route := &consumer.Route{
		Topics: target.Topics, Schema: schema, Decoder: dec, OnError: tc.Codec.OnError, Sink: com,
		MaxLetterValue: tc.DLQ.MaxValueBytes,
	}
	if evolves(tc.Codec) {
		route.Evolve = evolver(com, tc.Codec)
	}
	return com, route, nil
}

func evolves(c codec.Config) bool {
	for _, e := range c.SchemaEvolution {
		if e != "none" {
			return true
		}
	}
	return false
}

// evolver changes com's table as a record asks and returns the new row
// schema with a decoder for it. A change that is no safe evolution comes
// back as the record's decode error, so on-error decides.
func evolver(com *committer.Committer, cfg codec.Config) func(context.Context, *codec.SchemaChange) (*arrow.Schema, consumer.Decoder, error) {
	return func(ctx context.Context, ch *codec.SchemaChange) (*arrow.Schema, consumer.Decoder, error) {
		change := committer.SchemaChange{}
		for _, a := range ch.Add {
			change.Add = append(change.Add, tableColumn(a))
		}
		for _, a := range ch.AddIn {
			change.AddIn = append(change.AddIn, committer.NestedColumn{Parent: a.Parent, Column: tableColumn(a.Column)})
		}
		for _, w := range ch.Widen {
			change.Widen = append(change.Widen, committer.Widening{Path: w.Path, To: w.To})
		}
		if err := com.Evolve(ctx, change); err != nil {
			if errors.Is(err, committer.ErrSchemaConflict) {
				return nil, nil, &codec.DecodeError{Topic: ch.Topic, Partition: ch.Partition, Offset: ch.Offset,
					Kind: codec.KindWrongType, Detail: err.Error()}
			}
			return nil, nil, err
		}
		schema, err := com.ArrowSchema()
		if err != nil {
			return nil, nil, err
		}
		dec, err := codec.New(schema, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("decoder for the new schema: %w", err)
		}
		return schema, dec, nil
	}
}

// catalogEndpoint names the catalog for error messages, without secrets.
func catalogEndpoint(c committer.CatalogConfig) string {
	if c.Type == "rest" {
		return c.URI
	}
	return "sql catalog (" + c.SQL.Driver + ")"
}

// metadataColumns converts the codec's metadata column declarations into
// table columns.
func metadataColumns(m codec.MetadataColumns) []committer.Column {
	var out []committer.Column
	for _, c := range m.Columns() {
		out = append(out, tableColumn(c))
	}
	return out
}

// tableColumn converts a codec column description into a table column.
func tableColumn(c codec.Column) committer.Column {
	out := committer.Column{Name: c.Name, Type: c.Type, Required: c.Required}
	for _, f := range c.Fields {
		out.Fields = append(out.Fields, tableColumn(f))
	}
	if c.Element != nil {
		e := tableColumn(*c.Element)
		out.Element = &e
	}
	return out
}

// Close releases the catalog.
func (p *pipeline) Close() {
	closeCatalog(p.cat)
	p.store.Close()
}

// Ready reports whether the group is joined and every table can commit.
func (p *pipeline) Ready() error {
	if p.consumer == nil || !p.consumer.Joined() {
		return errors.New("not joined to the consumer group")
	}
	for _, c := range p.committers {
		if !c.Healthy() {
			return fmt.Errorf("table %s cannot commit", c.Table())
		}
	}
	return nil
}

// Run consumes and commits until ctx is done or a component fails. On the
// way out the consumer seals every buffer and each table gets a final commit
// bounded by shutdown.timeout.
func (p *pipeline) Run(ctx context.Context) error {
	ctx = p.store.Context(ctx)
	if err := p.listen(); err != nil {
		return err
	}
	srv := &http.Server{Handler: p.handler(), ReadHeaderTimeout: 5 * time.Second}
	srvDone := make(chan struct{})
	go func() { defer close(srvDone); _ = srv.Serve(p.ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-srvDone
	}()

	// Consuming stops on the first signal or failure. Committing goes on
	// until the final commits are done or shutdown.timeout has passed, so a
	// commit in progress at SIGTERM is finished rather than cut off.
	rs := newRunState(ctx)
	defer rs.stop()
	consumeCtx, commitCtx, fail, stopCommitting := rs.consumeCtx, rs.commitCtx, rs.fail, rs.stopCommitting
	var wg sync.WaitGroup
	consumerDone := make(chan struct{})
	go func() { defer close(consumerDone); fail(p.consumer.Run(consumeCtx)) }()
	for _, c := range p.committers {
		wg.Add(2)
		go func() { defer wg.Done(); fail(c.Run(commitCtx)) }()
		go func() { defer wg.Done(); c.SweepLoop(commitCtx, p.cfg.Sweep) }()
	}
	<-consumerDone // after a signal or a failure, with every buffer sealed

	timeout := p.cfg.Shutdown.Timeout
	deadline := time.AfterFunc(timeout, stopCommitting)
	defer deadline.Stop()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer scancel()
	p.log.Info("final commit", "timeout", timeout.String())
	for _, c := range p.committers {
		if err := c.Commit(sctx); err != nil {
			p.log.Error("final commit failed; uncommitted records will be read again on restart",
				"table", c.Table(), "error", err)
			fail(err)
		}
	}
	stopCommitting()
	wg.Wait()
	if err := rs.err(); err != nil {
		return err
	}
	p.log.Info("floe stopped")
	return nil
}

// runState is the two lifetimes of a run: consuming stops on the first
// failure (or signal), committing goes on until the final commits are done.
type runState struct {
	consumeCtx, commitCtx         context.Context
	stopConsuming, stopCommitting context.CancelFunc
	mu                            sync.Mutex
	first                         error
}

func newRunState(ctx context.Context) *runState {
	rs := &runState{}
	rs.consumeCtx, rs.stopConsuming = context.WithCancel(ctx)
	rs.commitCtx, rs.stopCommitting = context.WithCancel(context.WithoutCancel(ctx))
	return rs
}

// fail records the first error and stops consuming.
func (rs *runState) fail(err error) {
	if err == nil {
		return
	}
	rs.mu.Lock()
	if rs.first == nil {
		rs.first = err
	}
	rs.mu.Unlock()
	rs.stopConsuming()
}

func (rs *runState) err() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.first
}

func (rs *runState) stop() {
	rs.stopConsuming()
	rs.stopCommitting()
}

// dlqTopic adapts the consumer's dead-letter topic writer to the committer.
type dlqTopic struct{ *consumer.DLQTopic }

func (d dlqTopic) Write(ctx context.Context, batches []committer.TopicLetters) (int, error) {
	out := make([]consumer.Letters, len(batches))
	for i, b := range batches {
		out[i] = consumer.Letters{Topic: b.Topic, Partition: b.Partition, End: b.End, Letters: b.Letters}
	}
	return d.DLQTopic.Write(ctx, out)
}
