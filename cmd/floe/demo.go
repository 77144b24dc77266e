package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/config"
	"github.com/floe-dev/floe/offsets"
)

const demoTopic = "orders"

// demoCmd runs floe's real pipeline against an in-process Kafka (kfake) and
// a local warehouse with a SQLite catalog, then reads the table back.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	records := fs.Int("records", 200_000, "sample events to produce")
	partitions := fs.Int("partitions", 8, "partitions of the demo topic")
	dir := fs.String("dir", "", "directory for the warehouse, catalog and log (default: a temporary one, removed afterwards)")
	format := fs.String("format", "json", "the records' format: json, or avro, protobuf or json-schema (Confluent wire format, with an in-process schema registry)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *records <= 0 || *partitions <= 0 {
		return fmt.Errorf("%w: --records and --partitions must be > 0", errUsage)
	}
	rf, registryFormat := demoFormats[*format]
	if *format != "json" && !registryFormat {
		return fmt.Errorf("%w: --format must be json, avro, protobuf or json-schema, got %q", errUsage, *format)
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "floe-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}

	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(*partitions), demoTopic))
	if err != nil {
		return fmt.Errorf("start in-process kafka: %w", err)
	}
	defer kafka.Close()
	cfg := demoConfig(kafka.ListenAddrs(), abs)
	schemaID := 0
	if registryFormat {
		url, id, stopRegistry, err := demoRegistry(rf)
		if err != nil {
			return err
		}
		defer stopRegistry()
		cfg, schemaID = demoRegistryConfig(cfg, rf.name, url), id
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(abs, "floe.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(stdout, "floe demo: in-process Kafka at %v, topic %q with %d partitions\n", kafka.ListenAddrs(), demoTopic, *partitions)
	fmt.Fprintf(stdout, "  warehouse %s/warehouse, SQLite catalog %s/catalog.db, floe's JSON log %s\n", abs, abs, logFile.Name())
	if registryFormat {
		fmt.Fprintf(stdout, "  %s records (Confluent wire format), schema %d of subject %s-value in an in-process registry at %s;\n"+
			"  the table is created from that schema\n", rf.label, schemaID, demoTopic, cfg.SchemaRegistry.URLs[0])
	}

	p, err := newPipeline(ctx, cfg, newLogger(cfg.Log, logFile))
	if err != nil {
		return err
	}
	defer p.Close()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(runCtx) }()
	prodErr := make(chan error, 1)
	go func() { prodErr <- produceOrders(runCtx, kafka.ListenAddrs(), *records, rf, schemaID) }()

	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	produced := false
	for done := false; !done; {
		select {
		case <-ctx.Done():
			stop()
			<-runErr
			return ctx.Err()
		case err := <-runErr:
			return fmt.Errorf("pipeline stopped early: %w", err)
		case err := <-prodErr:
			if err != nil {
				stop()
				<-runErr
				return fmt.Errorf("produce sample events: %w", err)
			}
			produced = true
		case <-tick.C:
			n, err := committedRecords(ctx, p.committers[0])
			if err != nil {
				fmt.Fprintf(stdout, "  (reading offsets: %v)\n", err)
				continue
			}
			fmt.Fprintf(stdout, "  %5.1fs  committed %d / %d records (%3.0f%%)\n",
				time.Since(start).Seconds(), n, *records, 100*float64(n)/float64(*records))
			done = produced && n >= int64(*records)
		}
	}
	stop()
	if err := <-runErr; err != nil {
		return err
	}
	elapsed := time.Since(start)

	hist, err := readHistory(ctx, p.cat, cfg.Tables[0].Name, cfg.Kafka.Group)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	printHistory(stdout, cfg.Tables[0].Name, cfg.Tables[0].Owner, cfg.Kafka.Group, hist)
	rows, distinct, err := countRows(ctx, p, cfg.Tables[0].Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nread back from the table: %d rows, %d distinct order_id; produced %d records in %s\n",
		rows, distinct, *records, elapsed.Round(time.Millisecond))
	if rows != int64(*records) || distinct != int64(*records) {
		return fmt.Errorf("exactly-once check failed: produced %d, table has %d rows (%d distinct)", *records, rows, distinct)
	}
	fmt.Fprintln(stdout, "exactly once: every produced record is in the table once")
	fmt.Fprintf(stdout, "floe's JSON log of every commit: %s (kept with --dir)\n", logFile.Name())
	return nil
}

// readHistory is the commit history of group in table name.
func readHistory(ctx context.Context, cat icecat.Catalog, name, group string) ([]offsets.Commit, error) {
	tbl, err := loadTable(ctx, cat, name)
	if err != nil {
		return nil, err
	}
	return offsets.History(tbl.Metadata(), group, "")
}

func demoConfig(brokers []string, dir string) config.Config {
	cfg := config.Default()
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Group = "floe-demo"
	cfg.Kafka.Batch.MaxAge = time.Second
	cfg.Kafka.LagInterval = time.Second
	cfg.Catalog = catalog.Local("demo", dir)
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Shutdown.Timeout = 30 * time.Second
	t := config.DefaultTable()
	t.Name = "demo.orders"
	t.Topics = []string{demoTopic}
	t.CommitInterval = 2 * time.Second
	t.Owner = "floe-demo"
	t.Codec.OnError = codec.OnErrorFail
	t.Codec.Metadata = codec.MetadataColumns{Partition: "_kafka_partition", Offset: "_kafka_offset", Timestamp: "_kafka_timestamp"}
	t.Schema = []committer.Column{
		{Name: "order_id", Type: "uuid", Required: true},
		{Name: "customer_id", Type: "long", Required: true},
		{Name: "amount", Type: "decimal(12,2)", Required: true},
		{Name: "currency", Type: "string", Required: true},
		{Name: "status", Type: "string"},
		{Name: "created_at", Type: "timestamptz", Required: true},
		{Name: "shipping", Type: "struct", Fields: []committer.Column{
			{Name: "country", Type: "string"}, {Name: "city", Type: "string"}, {Name: "zip", Type: "string"},
		}},
		{Name: "items", Type: "list", Element: &committer.Column{Type: "struct", Fields: []committer.Column{
			{Name: "sku", Type: "string", Required: true}, {Name: "qty", Type: "int", Required: true},
		}}},
	}
	t.PartitionBy = []string{"day(created_at)"}
	cfg.Tables = []config.Table{t}
	return cfg
}

// produceOrders writes n sample orders, keyed by customer, in twelve bursts
// half a second apart so the demo shows several commits.
// With a registry format f they are encoded in f, framed for schemaID.
func produceOrders(ctx context.Context, brokers []string, n int, f demoFormat, schemaID int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(demoTopic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var firstErr error
	results := make(chan error, 1)
	const bursts = 12
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if i > 0 && i%max(n/bursts, 1) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
		customer := rng.IntN(50_000)
		var value []byte
		if f.encode != nil {
			value = f.frame(schemaID, f.encode(rng, i, customer))
		} else {
			value = sampleOrder(rng, i, customer)
		}
		rec := &kgo.Record{Key: []byte(strconv.Itoa(customer)), Value: value}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case results <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case firstErr = <-results:
	default:
	}
	return firstErr
}

var (
	demoCountries = []string{"DE", "FR", "US", "JP", "BR", "IN", "NL", "SE"}
	demoCities    = []string{"Berlin", "Lyon", "Austin", "Osaka", "Recife", "Pune", "Utrecht", "Malmö"}
	demoStatuses  = []string{"placed", "paid", "shipped", "delivered", "cancelled"}
	demoCurrency  = []string{"EUR", "USD", "JPY", "BRL", "INR", "SEK"}
)

// demoOrderID is a random version-4 UUID in its canonical text.
func demoOrderID(rng *rand.Rand) string {
	var id [16]byte
	for k := range id {
		id[k] = byte(rng.UintN(256))
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
}

// demoCreatedAt is the i-th order's time: one every 3 s from 2026-11-20.
func demoCreatedAt(i int) time.Time {
	return time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 3 * time.Second)
}

func sampleOrder(rng *rand.Rand, i, customer int) []byte {
	id := demoOrderID(rng)
	c := rng.IntN(len(demoCountries))
	created := demoCreatedAt(i)
	b := fmt.Appendf(nil, `{"order_id":%q,"customer_id":%d,"amount":"%d.%02d","currency":%q,"status":%q,"created_at":%q,"shipping":{"country":%q,"city":%q,"zip":"%05d"},"items":[`,
		id, customer, 5+rng.IntN(500), rng.IntN(100),
		demoCurrency[rng.IntN(len(demoCurrency))], demoStatuses[rng.IntN(len(demoStatuses))],
		created.Format(time.RFC3339Nano), demoCountries[c], demoCities[c], rng.IntN(99999))
	for k := range 1 + rng.IntN(3) {
		if k > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"sku":"SKU-%04d","qty":%d}`, rng.IntN(5000), 1+rng.IntN(4))
	}
	return append(b, "]}"...)
}

// committedRecords sums the table's committed offsets: with offsets starting
// at 0 and no gaps that is the number of records committed.
func committedRecords(ctx context.Context, c *committer.Committer) (int64, error) {
	m, err := c.Offsets(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, t := range m.Topics {
		for _, o := range t.Next {
			n += o
		}
	}
	return n, nil
}

// countRows scans the table and counts rows and distinct order IDs.
func countRows(ctx context.Context, p *pipeline, name string) (rows, distinct int64, err error) {
	tbl, err := loadTable(ctx, p.cat, name)
	if err != nil {
		return 0, 0, err
	}
	_, recs, err := tbl.Scan(table.WithSelectedFields("order_id")).ToArrowRecords(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("scan %s: %w", name, err)
	}
	seen := make(map[string]struct{})
	for rec, err := range recs {
		if err != nil {
			return 0, 0, fmt.Errorf("scan %s: %w", name, err)
		}
		col, ok := rec.Column(0).(interface{ ValueStr(int) string })
		if !ok {
			rec.Release()
			return 0, 0, errors.New("order_id column has an unexpected type")
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			seen[col.ValueStr(i)] = struct{}{}
		}
		rows += rec.NumRows()
		rec.Release()
	}
	return rows, int64(len(seen)), nil
}
