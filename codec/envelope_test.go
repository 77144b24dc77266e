package codec

import (
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/evolution"
)

func debeziumConfig() Config {
	cfg := DefaultConfig()
	cfg.Envelope = EnvelopeDebezium
	cfg.Metadata = MetadataColumns{Op: "_op", SourceTimestamp: "_source_ts", SourcePosition: "_position"}
	return cfg
}

func debeziumFields(position iceberg.Type) []iceberg.NestedField {
	return []iceberg.NestedField{
		req(1, "id", iceberg.PrimitiveTypes.Int64), opt(2, "name", iceberg.PrimitiveTypes.String),
		req(3, "_op", iceberg.PrimitiveTypes.String), opt(4, "_source_ts", iceberg.PrimitiveTypes.TimestampTz),
		opt(5, "_position", position),
	}
}

// The row is the change event's after, plain or under a JSON converter's
// payload; op, the source's commit time and its log position fill the
// metadata columns, whichever database the connector reads.
func TestDebeziumEnvelopeAppendsTheAfterImage(t *testing.T) {
	h := newHarness(t, debeziumConfig(), debeziumFields(iceberg.PrimitiveTypes.String)...)
	for _, v := range []string{
		// PostgreSQL, an insert.
		`{"before":null,"after":{"id":1,"name":"a"},"source":{"connector":"postgresql","ts_ms":1700000000123,"lsn":24023128},"op":"c","ts_ms":1700000001000}`,
		// MySQL, an update, with schemas.enable (schema and payload).
		`{"schema":{"type":"struct","fields":[]},"payload":{"before":{"id":2,"name":"x"},"after":{"id":2,"name":"b"},"source":{"ts_ms":1700000000200,"file":"mysql-bin.000003","pos":154},"op":"u"}}`,
		// SQL Server, a snapshot read with microseconds.
		`{"after":{"id":3},"source":{"ts_ms":1700000000300,"ts_us":1700000000300456,"change_lsn":"00000027:00000758:0003"},"op":"r"}`,
		// Oracle, no position the table can read beyond scn; no source time.
		`{"after":{"id":4,"name":"d"},"source":{"scn":"2868546"},"op":"c"}`,
	} {
		require.NoError(t, h.append(v))
	}
	r := h.record()
	want := [][]any{
		{int64(1), "a", "c", int64(1700000000123000), "24023128"},
		{int64(2), "b", "u", int64(1700000000200000), "mysql-bin.000003:154"},
		{int64(3), nil, "r", int64(1700000000300456), "00000027:00000758:0003"},
		{int64(4), "d", "c", nil, "2868546"},
	}
	for i, row := range want {
		for c, v := range row {
			require.Equal(t, v, cell(t, r.Column(c), i), "row %d column %s", i, r.ColumnName(c))
		}
	}
}

// A long source-position column takes PostgreSQL's lsn; a nanosecond
// source-timestamp column the most precise time the event has.
func TestDebeziumPositionAsLong(t *testing.T) {
	fields := debeziumFields(iceberg.PrimitiveTypes.Int64)
	fields[3] = opt(4, "_source_ts", iceberg.PrimitiveTypes.TimestampTzNs)
	h := newHarness(t, debeziumConfig(), fields...)
	require.NoError(t, h.append(`{"after":{"id":1},"source":{"ts_ms":1700000000123,"ts_ns":1700000000123456789,"lsn":24023128},"op":"c"}`))
	require.NoError(t, h.append(`{"after":{"id":2},"source":{"ts_ms":1700000000123,"file":"mysql-bin.000003","pos":154},"op":"c"}`))
	r := h.record()
	require.Equal(t, int64(1700000000123456789), cell(t, r.Column(3), 0))
	require.Equal(t, int64(24023128), cell(t, r.Column(4), 0))
	require.Equal(t, int64(1700000000123000000), cell(t, r.Column(3), 1))
	require.Nil(t, cell(t, r.Column(4), 1), "MySQL has no lsn")
}

// Deletes, truncates and tombstones have no row: they carry the table's
// deletes policy (skip by default), not on-error. Events that are not
// valid changes are bad records like any other.
func TestDebeziumEventsWithoutARow(t *testing.T) {
	h := newHarness(t, debeziumConfig(), debeziumFields(iceberg.PrimitiveTypes.String)...)
	for _, tc := range []struct {
		value  string
		kind   Kind
		field  string
		policy OnError
		detail string
	}{
		{`{"before":{"id":1},"after":null,"source":{"lsn":1},"op":"d"}`, KindCDCDelete, "", OnErrorSkip, "delete (op d)"},
		{`{"payload":{"before":null,"after":null,"op":"t"}}`, KindCDCTruncate, "", OnErrorSkip, "truncate (op t)"},
		{`{"after":null,"op":"c"}`, KindMissingRequired, "after", "", "after is null in a change with op c"},
		{`{"after":{"id":1}}`, KindInvalidValue, "op", "", "not a Debezium change event: no op"},
		{`{"after":{"id":1},"op":"x"}`, KindInvalidValue, "op", "", `op "x" is not c, u, r, d or t`},
		{`{"after":{"id":1},"op":"a very long op value"}`, KindInvalidValue, "op", "", "op is not c, u, r, d or t"},
		{`{"after":{"name":"a"},"op":"c"}`, KindMissingRequired, "after.id", "", "field is absent"},
		{`{"after":{"id":"one"},"op":"c"}`, KindWrongType, "after.id", "", "expected long, got JSON string"},
		{`{"after":{"id":1},"op":"c","source":{"lsn":"0/16B3748"}}`, KindWrongType, "source.lsn", "", "expected long"},
		{`{"after":{"id":1},"op":"c","source":{"ts_ms":9300000000000000}}`, KindOutOfRange, "_source_ts", "", "source time does not fit"},
	} {
		err := h.append(tc.value)
		de := requireDecodeError(t, err, tc.kind, tc.field)
		require.Equal(t, tc.policy, de.Policy, tc.value)
		require.Contains(t, de.Detail, tc.detail)
	}
	err := h.appendMessage(testMessage(9, nil))
	de := requireDecodeError(t, err, KindNullValue, "")
	require.Equal(t, OnErrorSkip, de.Policy, "a tombstone follows a delete")

	cfg := debeziumConfig()
	cfg.Deletes = OnErrorDLQ
	h = newHarness(t, cfg, debeziumFields(iceberg.PrimitiveTypes.String)...)
	de = requireDecodeError(t, h.append(`{"after":null,"op":"d"}`), KindCDCDelete, "")
	require.Equal(t, OnErrorDLQ, de.Policy)
}

// A required metadata column the event cannot fill makes a bad record.
func TestDebeziumRequiredMetadata(t *testing.T) {
	fields := debeziumFields(iceberg.PrimitiveTypes.String)
	fields[3] = req(4, "_source_ts", iceberg.PrimitiveTypes.TimestampTz)
	fields[4] = req(5, "_position", iceberg.PrimitiveTypes.String)
	h := newHarness(t, debeziumConfig(), fields...)
	requireDecodeError(t, h.append(`{"after":{"id":1},"op":"c","source":{"lsn":1}}`), KindMissingRequired, "_source_ts")
	requireDecodeError(t, h.append(`{"after":{"id":1},"op":"c","source":{"ts_ms":1}}`), KindMissingRequired, "_position")
	require.NoError(t, h.append(`{"after":{"id":1},"op":"c","source":{"ts_ms":1,"lsn":2}}`))
}

// Schema evolution reads the after image: its new fields become columns,
// and widening names the column, not the envelope's path to it.
func TestDebeziumEvolution(t *testing.T) {
	cfg := debeziumConfig()
	cfg.Metadata = MetadataColumns{Op: "_op"}
	cfg.SchemaEvolution = []string{EvolveAddColumns, EvolveWiden}
	h := newHarness(t, cfg, opt(1, "n", iceberg.PrimitiveTypes.Int32), req(2, "_op", iceberg.PrimitiveTypes.String))
	err := h.append(`{"before":{"n":1,"old":true},"after":{"n":1,"email":"e"},"op":"u","source":{"ts_ms":1,"db":"x"}}`)
	var ch *evolution.Change
	require.ErrorAs(t, err, &ch)
	require.Len(t, ch.Add, 1, "before and source fields are not columns")
	require.Equal(t, "email", ch.Add[0].Name)
	require.Empty(t, ch.Add[0].Parent)

	err = h.append(`{"payload":{"after":{"n":3000000000},"op":"c"}}`)
	require.ErrorAs(t, err, &ch)
	require.Equal(t, []string{"n"}, ch.Widen[0].Path)
}

func TestDebeziumConfig(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Envelope = "canal" }, `envelope: must be none or debezium, got "canal"`},
		{func(c *Config) { c.Deletes = "fail" }, `deletes: must be skip or dlq, got "fail"`},
		{func(c *Config) { c.Envelope = ""; c.Deletes = OnErrorSkip; c.Metadata = MetadataColumns{} }, "deletes: set without envelope: debezium"},
		{func(c *Config) { c.Envelope = EnvelopeNone }, "metadata-columns: op, source-timestamp and source-position come from a change event; set envelope: debezium"},
	} {
		cfg := debeziumConfig()
		tc.mutate(&cfg)
		require.EqualError(t, cfg.Validate(), tc.want)
	}
	_, err := New(arrowSchema(t, req(1, "id", iceberg.PrimitiveTypes.Int64), opt(2, "_op", iceberg.PrimitiveTypes.Int64)),
		Config{Format: "json", Envelope: EnvelopeDebezium, OnError: OnErrorFail, MaxRecordBytes: 1 << 20, Metadata: MetadataColumns{Op: "_op"}})
	require.EqualError(t, err, `metadata column "_op": must be string, got int64`)
	_, err = MetadataColumns{Op: "_op"}.Metadata(arrowSchema(t, req(1, "_op", iceberg.PrimitiveTypes.String)))
	require.EqualError(t, err, "metadata-columns.op: comes from a Debezium envelope, which this format does not read yet")
	_, err = Config{Metadata: MetadataColumns{Op: "_op"}}.MetadataOf(arrowSchema(t, req(1, "_op", iceberg.PrimitiveTypes.String)))
	require.EqualError(t, err, "metadata-columns.op: comes from a Debezium envelope, which this format does not read yet")
}
