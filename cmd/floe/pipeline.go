package main

import (
	"cmp"
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
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/registry"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/config"
	"github.com/floe-dev/floe/consumer"
	"github.com/floe-dev/floe/evolution"
	"github.com/floe-dev/floe/maintenance"
	"github.com/floe-dev/floe/offsets"
)

// pipeline is floe's main job: one consumer feeding one committer per table.
// `floe run` and `floe demo` run it over the configured tables and serve
// HTTP; `floe replay` runs it over one table and a range of one topic.
type pipeline struct {
	cfg      config.Config
	log      *slog.Logger
	reg      *prometheus.Registry
	cat      icecat.Catalog
	store    *catalog.ObjectStore
	who      offsets.Writer
	kafka    []kgo.Opt // the options of every Kafka client of the process
	consumer *consumer.Consumer

	mu         sync.Mutex                 // guards what follows: templates add tables while floe runs
	committers []*committer.Committer     // one per table, in the order opened
	opened     []config.Table             // the tables of committers
	names      map[string]string          // lower-cased table name → what feeds it (templates' collisions)
	spawned    map[string]*consumer.Route // lower-cased table name → the route a template made
	live       *liveRun                   // the run in progress, nil before and after
	ln         net.Listener
	registry   *registry.Client // nil without schema-registry.urls
	// writers writes full batches ahead of their commits, for every table:
	// one write per core.
	writers *committer.Writers
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// libraryLog sends what libraries write to Go's standard logger into floe's
// log, at debug level under "component":"library", so the log stays one
// stream of floe's format. iceberg-go writes there, e.g. "Failed to delete
// old metadata file" after every commit to a REST catalog, whose server has
// deleted the file already (write.metadata.delete-after-commit.enabled):
// noise for an operator, not a fault.
func libraryLog(logger *slog.Logger) {
	slog.SetDefault(logger.With("component", "library"))
	slog.SetLogLoggerLevel(slog.LevelDebug)
}

func instanceID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newPipeline opens the catalog, loads or creates every configured table
// and builds the consumer. extra Kafka options are for tests.
func newPipeline(ctx context.Context, cfg config.Config, logger *slog.Logger, extra ...kgo.Opt) (*pipeline, error) {
	p, err := openPipeline(ctx, cfg, logger, extra...)
	if err != nil {
		return nil, err
	}
	ctx = p.store.Context(ctx)
	found, err := p.topicsByPattern(ctx)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.names, p.spawned = map[string]string{}, map[string]*consumer.Route{}
	for i, tc := range cfg.Tables {
		if !tc.IsTemplate() {
			p.names[strings.ToLower(tc.Name)] = fmt.Sprintf("tables[%d] (%s)", i, tc.Name)
			if tc.DLQ.Table != "" {
				p.names[strings.ToLower(tc.DLQ.Table)] = fmt.Sprintf("tables[%d] (%s)'s dead-letter table", i, tc.Name)
			}
		}
	}
	var routes []*consumer.Route
	for i, tc := range cfg.Tables {
		if tc.IsRouter() {
			route, err := p.router(ctx, tc)
			if err != nil {
				p.Close()
				return nil, err
			}
			route.Pattern, _ = tc.Pattern() // validated
			routes = append(routes, route)
			continue
		}
		if tc.IsTemplate() {
			// The consumer makes a table per topic (listed, or matching
			// when floe starts or later) through spawn.
			re, _ := tc.Pattern() // validated
			routes = append(routes, &consumer.Route{Topics: tc.Topics, Pattern: re, Template: tc.Name, Spawn: p.spawner(tc)})
			continue
		}
		_, route, err := p.openTable(ctx, tc, tableTarget{Group: cfg.Kafka.Group, Topics: tc.Topics, Found: found[i]})
		if err != nil {
			p.Close()
			return nil, err
		}
		route.Pattern, _ = tc.Pattern() // validated
		routes = append(routes, route)
	}
	if err := p.newConsumer(routes); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// spawner makes template tc's table for a topic while the consumer starts
// or runs: loaded, or created with the template's schema (or the topic's
// subject's), and joined to the run; a topic deleted and created again gets
// the route it had. A topic whose table (or dead-letter table) name is
// taken — by another topic's table ("a.b" and "A.B" make the same name), a
// configured table, or a table floe did not make from this template for
// this topic (its floe.topic and floe.template properties say) — is
// refused.
func (p *pipeline) spawner(tc config.Table) func(context.Context, string) (*consumer.Route, error) {
	return func(ctx context.Context, topic string) (*consumer.Route, error) {
		t := tc.ForTopic(topic)
		self := fmt.Sprintf("topic %q", topic)
		keys := []string{strings.ToLower(t.Name)}
		if t.DLQ.Table != "" {
			keys = append(keys, strings.ToLower(t.DLQ.Table))
		}
		p.mu.Lock()
		if r := p.spawned[keys[0]]; r != nil && p.names[keys[0]] == self {
			p.mu.Unlock()
			return r, nil
		}
		for _, k := range keys {
			if other, taken := p.names[k]; taken && other != self {
				p.mu.Unlock()
				return nil, fmt.Errorf("%w: its table %s is %s's already: rename a topic, or narrow the pattern", consumer.ErrTopicRefused, k, other)
			}
		}
		for _, k := range keys {
			p.names[k] = self
		}
		p.mu.Unlock()
		release := func() {
			p.mu.Lock()
			for _, k := range keys {
				delete(p.names, k)
			}
			p.mu.Unlock()
		}
		ctx = p.store.Context(ctx)
		// The table says which topic and template it was made for: that
		// topic keeps it, whichever of two clashing topics floe sees first.
		tbl, err := loadTable(ctx, p.cat, t.Name)
		existed := err == nil
		if existed {
			props := tbl.Properties()
			if owner, from := props["floe.topic"], props["floe.template"]; owner != topic || from != tc.Name {
				release()
				return nil, fmt.Errorf("%w: table %s exists, made for topic %q by template %q (its floe.topic and floe.template properties), not for this one: "+
					"rename a topic, narrow the pattern, or set those properties if the table is this topic's", consumer.ErrTopicRefused, t.Name, owner, from)
			}
		}
		_, route, err := p.openTable(ctx, t, tableTarget{Group: p.cfg.Kafka.Group, Topics: []string{topic}})
		if err != nil {
			release()
			return nil, err
		}
		// A table an earlier run made: its topic was seen then, perhaps
		// after that run's start, so all of it is read (start-from is for
		// a table's first start).
		route.FromFirst = existed
		p.mu.Lock()
		p.spawned[keys[0]] = route
		p.mu.Unlock()
		p.log.Info("table from template", "table", t.Name, "template", tc.Name, "topic", topic)
		return route, nil
	}
}

// topicsByPattern lists, per configured table, the topics in Kafka now that
// its topics-pattern matches and no table lists by name; nil for a table
// without a pattern. (The consumer routes them itself, and follows the
// cluster; these only give a table created from the registry its schema.)
func (p *pipeline) topicsByPattern(ctx context.Context) ([][]string, error) {
	found := make([][]string, len(p.cfg.Tables))
	listed := map[string]bool{}
	var any bool
	for _, tc := range p.cfg.Tables {
		for _, t := range tc.Topics {
			listed[t] = true
		}
		// A template's tables take their schemas per topic (spawner).
		any = any || (tc.TopicsPattern != "" && !tc.IsTemplate())
	}
	if !any {
		return found, nil
	}
	adm, err := consumer.NewAdmin(p.cfg.Kafka, p.kafka...)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	topics, err := adm.Topics(ctx)
	if err != nil {
		return nil, err
	}
	for i, tc := range p.cfg.Tables {
		re, _ := tc.Pattern() // validated
		for _, t := range topics {
			if re != nil && !listed[t] && re.MatchString(t) {
				found[i] = append(found[i], t)
			}
		}
	}
	return found, nil
}

// openPipeline opens the catalog and the object store, with no table yet:
// add them with openTable, then the consumer with newConsumer. Close it when
// done.
func openPipeline(ctx context.Context, cfg config.Config, logger *slog.Logger, extra ...kgo.Opt) (*pipeline, error) {
	libraryLog(logger)
	reg := newRegistry()
	kafka, err := consumer.ClientOptions(cfg.Kafka, logger, reg)
	if err != nil {
		return nil, err
	}
	var sreg *registry.Client
	if cfg.SchemaRegistry.Enabled() {
		if sreg, err = registry.New(cfg.SchemaRegistry, reg); err != nil {
			return nil, err
		}
	}
	cat, store, err := openCatalog(ctx, cfg, reg)
	if err != nil {
		return nil, err
	}
	return &pipeline{cfg: cfg, log: logger, reg: reg, cat: cat, store: store, who: newIdentity(), writers: committer.NewWriters(runtime.GOMAXPROCS(0)),
		kafka: append(kafka, extra...), registry: sreg}, nil
}

// newConsumer makes the consumer that feeds the tables by routes.
func (p *pipeline) newConsumer(routes []*consumer.Route) error {
	cons, err := consumer.New(p.cfg.Kafka, routes, p.log, p.reg, p.kafka...)
	if err != nil {
		return err
	}
	p.consumer = cons
	return nil
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
	opts, err := consumer.ClientOptions(cfg.Kafka, logger, prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	return consumer.NewAdmin(cfg.Kafka, opts...)
}

func newIdentity() offsets.Writer {
	host, _ := os.Hostname()
	return offsets.Writer{Instance: instanceID(), Host: host, Version: version}
}

// openCatalog opens the object store and the catalog with floe's limits;
// close both when done. Data files, manifests and metadata files go through
// floe's object-store clients (catalog.s3.http, catalog.gcs.http,
// catalog.azure.http) whatever the catalog: the contexts of table operations
// carry them (store.Context).
func openCatalog(ctx context.Context, cfg config.Config, reg prometheus.Registerer) (icecat.Catalog, *catalog.ObjectStore, error) {
	store, err := catalog.NewObjectStoreFor(ctx, cfg.Catalog, reg)
	if err != nil {
		return nil, nil, err
	}
	httpClient := &http.Client{Transport: catalog.NewCatalogTransport(cfg.Catalog.HTTP, reg)}
	cat, err := catalog.Open(store.Context(ctx), cfg.Catalog, httpClient)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return cat, store, nil
}

// eachTable opens the catalog and calls fn with each configured table (or
// only the one named), the tables templates made included.
func eachTable(ctx context.Context, cfg *config.Config, only string, fn func(name string, tbl *table.Table) error) error {
	cat, err := catalog.Open(ctx, cfg.Catalog, nil)
	if err != nil {
		return err
	}
	defer closeCatalog(cat)
	tables, err := selectTables(ctx, cat, *cfg, only)
	if err != nil {
		return err
	}
	for _, tc := range tables {
		tbl, err := loadTable(ctx, cat, tc.Name)
		if err != nil {
			return err
		}
		if err := fn(tc.Name, tbl); err != nil {
			return err
		}
	}
	return nil
}

func loadTable(ctx context.Context, cat icecat.Catalog, name string) (*table.Table, error) {
	ident, err := committer.ParseIdentifier(name)
	if err != nil {
		return nil, err
	}
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		return nil, fmt.Errorf("load table %s: %w", name, err)
	}
	return tbl, nil
}

// selectTables is the configured tables, or only the one named, with the
// tables templates made: those of the template's namespace, of the name's
// shape, whose floe.template property names the template (so neither a
// dead-letter table nor another tool's table in that namespace).
func selectTables(ctx context.Context, cat icecat.Catalog, cfg config.Config, only string) ([]config.Table, error) {
	var out []config.Table
	configured := map[string]bool{}
	for _, t := range cfg.Tables {
		if !t.IsTemplate() && !t.IsRouter() {
			configured[strings.ToLower(t.Name)] = true
			if only == "" || t.Name == only {
				out = append(out, t)
			}
		}
	}
	made := func(t config.Table, name string) (config.Table, bool, error) {
		m := t.NameShape().FindStringSubmatch(name)
		if m == nil || configured[strings.ToLower(name)] {
			return config.Table{}, false, nil
		}
		tbl, err := loadTable(ctx, cat, name)
		if err != nil {
			return config.Table{}, false, err
		}
		if t.IsRouter() {
			return t.ForRoutePart(m[1]), tbl.Properties()["floe.route-template"] == t.Name, nil
		}
		return t.ForNamePart(m[1]), tbl.Properties()["floe.template"] == t.Name, nil
	}
	for _, t := range cfg.Tables {
		if !t.IsTemplate() && !t.IsRouter() {
			continue
		}
		if only != "" {
			tc, ok, err := made(t, only)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, tc)
			}
			continue
		}
		ident, _ := committer.ParseIdentifier(t.Name) // validated: {topic} is in the last part
		for id, err := range cat.ListTables(ctx, ident[:len(ident)-1]) {
			if err != nil {
				if errors.Is(err, icecat.ErrNoSuchNamespace) {
					break // no table made yet
				}
				return nil, fmt.Errorf("list the tables of template %s: %w", t.Name, err)
			}
			tc, ok, err := made(t, strings.Join(id, "."))
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, tc)
			}
		}
	}
	if len(out) == 0 && only != "" {
		return nil, fmt.Errorf("%w: --table %q is not in the config's tables, nor one of its templates made", errUsage, only)
	}
	return out, nil
}

func closeCatalog(cat icecat.Catalog) {
	if c, ok := cat.(io.Closer); ok {
		_ = c.Close()
	}
}

// tableTarget says where a table's committer keeps its progress and which
// topics feed it: `floe run` uses kafka.group and the table's topics, a
// replay its own group, one topic and perhaps a branch.
type tableTarget struct {
	Group  string
	Branch string
	Topics []string
	// Found are the topics the table's topics-pattern matches at start:
	// with Topics, they give a table created from the registry its schema.
	Found []string
	// OnLanded, if set, is told what each landed commit holds (the report
	// at the end of `floe replay`).
	OnLanded func(committer.Landed)
	// Replay is set by `floe replay`: old records, whose age is not
	// freshness (committer.Deps.Replay).
	Replay bool
}

// openTable loads or creates a configured table (and its dead-letter table)
// and adds its committer; the returned route is how the consumer feeds it.
func (p *pipeline) openTable(ctx context.Context, tc config.Table, target tableTarget) (*committer.Committer, *consumer.Route, error) {
	topics := append(slices.Clone(target.Topics), target.Found...) // whose subjects the schema may come from
	tbl, created, err := committer.LoadOrCreateTable(ctx, p.cat, tc.TableConfig, p.metadataFields(ctx, tc, topics))
	if notCreatable := (*committer.TableNotCreatableError)(nil); errors.As(err, &notCreatable) && tc.Codec.Format != "json" {
		// No declared schema: the writer schema's fields are the columns.
		tcfg := tc.TableConfig
		var from string
		if tcfg.Schema, from, err = p.writerColumns(ctx, tc, topics); err != nil {
			return nil, nil, fmt.Errorf("table %s: %w", tc.Name, err)
		}
		if tbl, created, err = committer.LoadOrCreateTable(ctx, p.cat, tcfg, p.metadataFields(ctx, tc, topics)); err == nil && created {
			p.log.Info("table schema from the writer schema", "table", tc.Name, "from", from)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if created {
		p.log.Info("table created", "table", tc.Name, "location", tbl.Location())
	}
	var dlq *table.Table
	if tc.DLQ.Table != "" {
		dlq, created, err = committer.LoadOrCreateTable(ctx, p.cat, committer.DLQTableConfig(tc.TableConfig), nil)
		if err != nil {
			return nil, nil, fmt.Errorf("table %s: dlq.table: %w", tc.Name, err)
		}
		if created {
			p.log.Info("dead-letter table created", "table", tc.DLQ.Table, "for", tc.Name, "location", dlq.Location())
		}
	}
	var letterTopic committer.LetterWriter
	if tc.DLQ.Topic != "" {
		w := consumer.NewDLQTopic(p.cfg.Kafka, tc.DLQ.Topic, target.Group, tc.Name, version, p.kafka...)
		if err := w.Check(ctx); err != nil {
			return nil, nil, fmt.Errorf("table %s: %w", tc.Name, err)
		}
		letterTopic = w
	}
	com, err := committer.New(p.cfg.Commit, tc.TableConfig, committer.Deps{
		Catalog: p.cat, Endpoint: catalogEndpoint(p.cfg.Catalog), Table: tbl, DLQ: dlq, LetterTopic: letterTopic,
		Group: target.Group, Branch: target.Branch, Identity: p.who, OnLanded: target.OnLanded,
		Replay: target.Replay, Writers: p.writers,
	}, p.log, p.reg)
	if err != nil {
		return nil, nil, err
	}
	schema, err := com.ArrowSchema()
	if err != nil {
		return nil, nil, fmt.Errorf("table %s: arrow schema: %w", tc.Name, err)
	}
	dec, err := p.decoderFor(tc.Codec, schema)
	if err != nil {
		return nil, nil, fmt.Errorf("table %s: %w", tc.Name, err)
	}
	if !created {
		p.checkWriterSchema(ctx, tc, schema, topics)
	}
	route := &consumer.Route{
		Topics: target.Topics, Schema: schema, Decoder: dec, OnError: tc.Codec.OnError, Sink: com,
		MaxLetterValue: tc.DLQ.MaxValueBytes,
	}
	if tc.Codec.Envelope == codec.EnvelopeDebezium {
		route.Deletes = cmp.Or(tc.Codec.Deletes, codec.OnErrorSkip)
	}
	if evolves(tc.Codec) {
		route.Evolve = evolver(com, tc.Codec, p.decoderFor)
	}
	p.mu.Lock()
	p.committers = append(p.committers, com)
	p.opened = append(p.opened, tc)
	live := p.live
	p.mu.Unlock()
	if live != nil {
		live.start(com, p.tableLoops(tc, com)...)
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
func evolver(com *committer.Committer, cfg codec.Config,
	decoderFor func(codec.Config, *arrow.Schema) (consumer.Decoder, error),
) func(context.Context, *evolution.Change) (*arrow.Schema, consumer.Decoder, error) {
	return func(ctx context.Context, ch *evolution.Change) (*arrow.Schema, consumer.Decoder, error) {
		if err := com.Evolve(ctx, ch); err != nil {
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
		dec, err := decoderFor(cfg, schema)
		if err != nil {
			return nil, nil, fmt.Errorf("decoder for the new schema: %w", err)
		}
		return schema, dec, nil
	}
}

// catalogEndpoint names the catalog for error messages, without secrets.
func catalogEndpoint(c catalog.Config) string {
	switch c.Type {
	case "rest":
		return c.URI
	case "hive":
		return c.Hive.URI
	case "glue":
		if c.Glue.Endpoint != "" {
			return "glue catalog (" + c.Glue.Endpoint + ")"
		}
		return "glue catalog (" + c.Glue.Region + ")"
	}
	return "sql catalog (" + c.SQL.Driver + ")"
}

// Close releases the catalog.
func (p *pipeline) Close() {
	closeCatalog(p.cat)
	p.store.Close()
}

// Ready reports whether Kafka lets floe consume (AccessDenied), the group
// is joined and every table can commit.
func (p *pipeline) Ready() error {
	if p.consumer == nil {
		return errors.New("not joined to the consumer group")
	}
	if err := p.consumer.AccessDenied(); err != nil {
		return err
	}
	if err := p.consumer.Unavailable(); err != nil {
		return err
	}
	if !p.consumer.Joined() {
		return errors.New("not joined to the consumer group")
	}
	for _, c := range p.allCommitters() {
		if !c.Healthy() {
			return fmt.Errorf("table %s cannot commit", c.Table())
		}
	}
	return nil
}

// Run consumes and commits until ctx is done or a component fails, and
// serves HTTP meanwhile. On the way out the consumer seals every buffer and
// each table gets one final commit bounded by shutdown.timeout.
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

	var loops []alongside
	p.mu.Lock()
	for i, c := range p.committers {
		loops = append(loops, p.tableLoops(p.opened[i], c)...)
	}
	p.mu.Unlock()
	if err := p.consumeThenCommit(ctx, p.consumer.Run, finalCommits{timeout: p.cfg.Shutdown.Timeout}, loops...); err != nil {
		return err
	}
	p.log.Info("floe stopped")
	return nil
}

// tableLoops is what runs beside a table's commits while floe runs: its
// orphan sweep, and its maintenance on the replica that owns the first
// partition of the table's first topic (by name, among those it reads now).
func (p *pipeline) tableLoops(tc config.Table, c *committer.Committer) []alongside {
	sweeper := maintenance.NewSweeper(p.cfg.Sweep, c.Table(), c.Load, p.log, p.reg)
	loops := []alongside{func(stop, _ context.Context) { sweeper.Run(stop) }} // a sweep cut off is harmless
	if ident, err := committer.ParseIdentifier(tc.Name); err == nil {         // validated
		owns := func() bool { return p.consumer.OwnsFirstOf(tc.Name) }
		t := maintenance.Table{Name: tc.Name, Ident: ident, Catalog: p.cat, TargetFileSize: tc.TargetFileSize}
		loops = append(loops, maintenance.NewMaintainer(tc.Maintenance, t, owns, p.log, p.reg).Run)
	}
	return loops
}

// allCommitters is every table's committer now.
func (p *pipeline) allCommitters() []*committer.Committer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.committers)
}

// finalCommits bounds the commits made once consuming has stopped.
type finalCommits struct {
	// timeout bounds them after a signal, and otherwise too unless
	// finished is set: a replay that read its whole range has
	// commit.give-up-after to land it.
	timeout, finished time.Duration
	// retry makes a final commit that timed out (committer.ErrCommitTimeout)
	// try again until the bound has passed: a replay lands what it read.
	// Without it each table gets one attempt, and `floe run` reads what did
	// not land again when it restarts.
	retry bool
}

// alongside is work beside consuming and committing (orphan sweeps, table
// maintenance): it starts nothing new once stop is done, and abandons what
// it is doing once hard is.
type alongside func(stop, hard context.Context)

// consumeThenCommit is the lifecycle of every run of the pipeline. consume
// reads until the first signal or failure while each committer commits on
// its interval, beside the alongside loops. Once consume has returned every
// buffer is sealed; committing goes on until each table's final commit is
// done or final's bound has passed, so a commit in progress at SIGTERM is
// finished rather than cut off — and so is a maintenance commit in
// progress, within the same bound. It returns the first failure.
func (p *pipeline) consumeThenCommit(ctx context.Context, consume func(context.Context) error, final finalCommits,
	loops ...alongside,
) error {
	rs := newRunState(ctx)
	defer rs.stop()
	live := &liveRun{rs: rs}
	p.mu.Lock()
	p.live = live
	committers := slices.Clone(p.committers)
	p.mu.Unlock()
	for _, c := range committers {
		live.start(c)
	}
	live.start(nil, loops...)
	// A table a template makes while consuming joins the run (openTable).
	rs.fail(consume(rs.consumeCtx)) // after a signal, a failure or the end of a range, with every buffer sealed
	p.mu.Lock()
	p.live = nil
	p.mu.Unlock()

	timeout := final.timeout
	if ctx.Err() == nil && final.finished > 0 {
		timeout = final.finished
	}
	deadline := time.AfterFunc(timeout, rs.stop)
	defer deadline.Stop()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	p.log.Info("final commit", "timeout", timeout.String())
	for _, c := range p.allCommitters() {
		err := c.Commit(fctx)
		for final.retry && errors.Is(err, committer.ErrCommitTimeout) && fctx.Err() == nil {
			err = c.Commit(fctx)
		}
		if err != nil {
			p.log.Error("final commit failed; uncommitted records will be read again on restart",
				"table", c.Table(), "error", err)
			rs.fail(err)
		}
	}
	rs.stopCommitting()
	live.wg.Wait()
	return rs.err()
}

// liveRun is a run of the pipeline in progress, which tables join.
type liveRun struct {
	rs *runState
	wg sync.WaitGroup
}

// start runs c's commits (if c is not nil) and loops until the run's ends.
func (l *liveRun) start(c *committer.Committer, loops ...alongside) {
	if c != nil {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.rs.fail(c.Run(l.rs.commitCtx)) }()
	}
	for _, loop := range loops {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); loop(l.rs.consumeCtx, l.rs.hardCtx) }()
	}
}

// runState is the lifetimes of a run: consuming stops on the first
// failure (or signal), committing goes on until the final commits are done,
// and the alongside loops' work in progress until it is done too or the
// final bound has passed (hard).
type runState struct {
	consumeCtx, commitCtx, hardCtx          context.Context
	stopConsuming, stopCommitting, stopHard context.CancelFunc
	mu                                      sync.Mutex
	first                                   error
}

func newRunState(ctx context.Context) *runState {
	rs := &runState{}
	rs.consumeCtx, rs.stopConsuming = context.WithCancel(ctx)
	rs.commitCtx, rs.stopCommitting = context.WithCancel(context.WithoutCancel(ctx))
	rs.hardCtx, rs.stopHard = context.WithCancel(context.WithoutCancel(ctx))
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
	rs.stopHard()
}
