package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/avro"
	"github.com/floe-dev/floe/codec/jsonschema"
	"github.com/floe-dev/floe/codec/protobuf"
	"github.com/floe-dev/floe/codec/registry"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/config"
	"github.com/floe-dev/floe/consumer"
)

// decoderFor is the decoder of cfg's format that appends to schema (the
// table's Arrow schema): JSON; Avro of one writer schema given in the
// config; or values in the Confluent wire format (Avro, Protobuf, JSON
// Schema), their writer schemas from the registry.
//
// Keys framed by the registry (key-format avro, protobuf, json-schema) are
// decoded around that decoder, into the key column.
func (p *pipeline) decoderFor(cfg codec.Config, schema *arrow.Schema) (consumer.Decoder, error) {
	value, err := p.valueDecoder(cfg, schema)
	if err != nil || !codec.RegistryKey(cfg.KeyFormat) {
		return value, err
	}
	return registry.NewKeyed(value, p.registry, registryFormat(cfg.KeyFormat), schema, cfg)
}

func (p *pipeline) valueDecoder(cfg codec.Config, schema *arrow.Schema) (registry.Appender, error) {
	if cfg.Format == "json" {
		return codec.New(schema, cfg)
	}
	text, ok, err := avroSchemaText(cfg)
	switch {
	case err != nil:
		return nil, err
	case ok:
		return avro.New(text, schema, cfg)
	}
	return registry.NewDecoder(p.registry, registryFormat(cfg.Format), schema, cfg)
}

// registryFormat is the registry format of a table's format, which is not
// json.
func registryFormat(name string) registry.Format {
	switch name {
	case "protobuf":
		return protobuf.Format
	case "json-schema":
		return jsonschema.Format
	}
	return avro.Format
}

// avroSchemaText is the writer schema the config gives (avro-schema, or
// the file avro-schema-file), if it gives one.
func avroSchemaText(cfg codec.Config) (string, bool, error) {
	switch {
	case cfg.AvroSchema != "":
		return cfg.AvroSchema, true, nil
	case cfg.AvroSchemaFile != "":
		b, err := os.ReadFile(cfg.AvroSchemaFile)
		if err != nil {
			return "", false, fmt.Errorf("avro-schema-file: %w", err)
		}
		return string(b), true, nil
	}
	return "", false, nil
}

// writerColumns are the columns of a table floe creates without a
// declared schema: the writer schema's fields, from avro-schema or else
// the latest schema of the first topic's subject. from says which.
func (p *pipeline) writerColumns(ctx context.Context, tc config.Table, topics []string) ([]committer.Column, string, error) {
	text, ok, err := avroSchemaText(tc.Codec)
	if err != nil {
		return nil, "", err
	}
	format := registryFormat(tc.Codec.Format)
	var w registry.Writer
	from := "avro-schema"
	switch {
	case ok:
		if w, err = format.Writer(text, nil, registry.Message{Envelope: tc.Codec.Envelope}); err != nil {
			return nil, "", err
		}
	case p.registry == nil:
		return nil, "", errors.New("no tables[].schema, avro-schema or schema-registry to create the table from")
	case len(topics) == 0 && tc.Codec.SubjectNameStrategy != registry.RecordNameStrategy:
		return nil, "", errNoTopicYet(tc)
	default:
		subject, err := registry.Subject(tc.Codec.SubjectNameStrategy, firstOf(topics), tc.Codec.RecordName, false)
		if err != nil {
			return nil, "", fmt.Errorf("%w: set record-name (the record the table is created from) or declare tables[].schema", err)
		}
		w, from, err = registry.WriterOf(ctx, p.registry, format, subject, registry.Message{Name: tc.Codec.RecordName, Envelope: tc.Codec.Envelope})
		if err != nil {
			return nil, "", err
		}
	}
	as, err := w.Arrow()
	if err != nil {
		return nil, "", fmt.Errorf("writer schema from %s: %w", from, err)
	}
	cols, err := committer.ColumnsOf(as.Fields())
	if err != nil {
		return nil, "", fmt.Errorf("writer schema from %s: %w", from, err)
	}
	return cols, from, nil
}

// errNoTopicYet: a table to create from subjects named after its topics,
// when its topics-pattern matches none yet.
func errNoTopicYet(tc config.Table) error {
	return fmt.Errorf("no topic matches topics-pattern %q yet, and the table's schema would come from the subject of its first topic: "+
		"declare tables[].schema (or key-schema), use subject-name-strategy: record with record-name, or create a matching topic first", tc.TopicsPattern)
}

// firstOf is the first of topics, or "" (record strategy: no topic needed).
func firstOf(topics []string) string {
	if len(topics) == 0 {
		return ""
	}
	return topics[0]
}

// checkWriterSchema reports at start when the latest schema of an existing
// table's subject cannot be written to it: the table's schema wins, and
// that subject's records would be bad records (schema_incompatible). A
// registry that does not answer is reported and left to the records.
func (p *pipeline) checkWriterSchema(ctx context.Context, tc config.Table, schema *arrow.Schema, topics []string) {
	if tc.Codec.Format == "json" || p.registry == nil || tc.Codec.AvroSchema != "" || tc.Codec.AvroSchemaFile != "" {
		return
	}
	format := registryFormat(tc.Codec.Format)
	for _, topic := range topics {
		subject, err := registry.Subject(tc.Codec.SubjectNameStrategy, topic, tc.Codec.RecordName, false)
		if err != nil {
			return // record strategies without record-name: the subjects are known per record
		}
		w, from, err := registry.WriterOf(ctx, p.registry, format, subject, registry.Message{Name: tc.Codec.RecordName, Envelope: tc.Codec.Envelope})
		switch {
		case errors.Is(err, registry.ErrUnknownSchema):
			p.log.Warn("the topic's subject has no schema in the registry yet", "table", tc.Name, "subject", subject)
			continue
		case errors.As(err, new(*registry.UnavailableError)):
			p.log.Warn("could not check the subject's latest schema against the table", "table", tc.Name, "subject", subject, "error", err)
			continue
		case err != nil:
			p.log.Error("the subject's latest schema is not one the table's format reads: its records will be bad records (schema_incompatible)",
				"table", tc.Name, "subject", subject, "error", err)
			continue
		}
		if _, err := w.Decoder(schema, tc.Codec); err != nil && !evolves(tc.Codec) {
			p.log.Error("the subject's latest schema cannot be written to the table, whose schema wins: its records will be bad records (schema_incompatible)",
				"table", tc.Name, "subject", subject, "from", from, "error", err)
		}
	}
}

// metadataFields is the metadata columns of a table floe creates, after
// its schema's: the key column is binary, string (key-format string), the
// struct of key-schema's columns (key-format json, which cannot create a
// table without it) or of the latest schema of the first topic's key
// subject (<topic>-key, for keys framed by the registry).
func (p *pipeline) metadataFields(ctx context.Context, tc config.Table, topics []string) committer.Extra {
	return func() ([]arrow.Field, error) {
		fields := tc.Codec.Metadata.Fields()
		for i, f := range fields {
			if f.Name != tc.Codec.Metadata.Key {
				continue
			}
			switch tc.Codec.KeyFormat {
			case codec.KeyString:
				fields[i].Type = arrow.BinaryTypes.String
			case codec.KeyJSON:
				if len(tc.KeySchema) == 0 {
					return nil, fmt.Errorf("key-format json: floe does not know the type of the key column %q; "+
						"declare the key's fields in key-schema, or create the table with that column", f.Name)
				}
				sc, err := committer.BuildSchema(tc.KeySchema)
				if err != nil {
					return nil, fmt.Errorf("key-schema: %w", err)
				}
				as, err := table.SchemaToArrowSchema(sc, nil, true, false)
				if err != nil {
					return nil, fmt.Errorf("key-schema: %w", err)
				}
				fields[i].Type = arrow.StructOf(as.Fields()...)
			default:
				if !codec.RegistryKey(tc.Codec.KeyFormat) {
					continue
				}
				if p.registry == nil {
					return nil, fmt.Errorf("key-format %s: needs schema-registry.urls", tc.Codec.KeyFormat)
				}
				if len(topics) == 0 {
					return nil, fmt.Errorf("key column %q: %w", f.Name, errNoTopicYet(tc))
				}
				subject, _ := registry.Subject(registry.TopicNameStrategy, topics[0], "", true)
				w, from, err := registry.WriterOf(ctx, p.registry, registryFormat(tc.Codec.KeyFormat), subject, registry.Message{})
				if err != nil {
					return nil, fmt.Errorf("key column %q: %w", f.Name, err)
				}
				as, err := w.Arrow()
				if err != nil {
					return nil, fmt.Errorf("key column %q from %s: %w", f.Name, from, err)
				}
				fields[i].Type = arrow.StructOf(as.Fields()...)
			}
		}
		return fields, nil
	}
}
