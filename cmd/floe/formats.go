package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/codec/avro"
	"github.com/floe-dev/floe/codec/registry"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/config"
	"github.com/floe-dev/floe/consumer"
)

// decoderFor is the decoder of cfg's format that appends to schema (the
// table's Arrow schema): JSON; Avro of one writer schema given in the
// config; or Avro in the Confluent wire format, the writer schemas from
// the registry.
func (p *pipeline) decoderFor(cfg codec.Config, schema *arrow.Schema) (consumer.Decoder, error) {
	if cfg.Format != "avro" {
		return codec.New(schema, cfg)
	}
	text, ok, err := avroSchemaText(cfg)
	switch {
	case err != nil:
		return nil, err
	case ok:
		return avro.New(text, schema, cfg)
	case p.registry == nil:
		return nil, errors.New("format: avro without avro-schema needs schema-registry.urls")
	}
	return avro.NewRegistryDecoder(p.registry, schema, cfg)
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

// avroColumns are the columns of an Avro table floe creates without a
// declared schema: the writer schema's fields, from the config or else the
// latest schema of the first topic's subject. from says which.
func (p *pipeline) avroColumns(ctx context.Context, tc config.Table, topics []string) ([]committer.Column, string, error) {
	text, ok, err := avroSchemaText(tc.Codec)
	if err != nil {
		return nil, "", err
	}
	from := "avro-schema"
	if !ok {
		if p.registry == nil {
			return nil, "", errors.New("no tables[].schema, avro-schema or schema-registry to create the table from")
		}
		if s := tc.Codec.SubjectNameStrategy; s != "" && s != registry.TopicNameStrategy {
			return nil, "", fmt.Errorf("subject-name-strategy %s: the subject depends on a record's name, unknown before the first record; "+
				"declare tables[].schema to create the table", s)
		}
		subject, _ := registry.Subject(registry.TopicNameStrategy, topics[0], "", false)
		latest, err := p.registry.Latest(ctx, subject)
		if err != nil {
			return nil, "", fmt.Errorf("create the table from subject %s: %w", subject, err)
		}
		if latest.Type != sr.TypeAvro {
			return nil, "", fmt.Errorf("create the table from subject %s: its latest schema is %s, the table's format is avro", subject, latest.Type)
		}
		text = latest.Schema.Schema
		from = fmt.Sprintf("subject %s version %d (schema %d)", subject, latest.Version, latest.ID)
	}
	as, err := avro.ArrowSchema(text)
	if err != nil {
		return nil, "", fmt.Errorf("writer schema from %s: %w", from, err)
	}
	cols, err := committer.ColumnsOf(as.Fields())
	if err != nil {
		return nil, "", fmt.Errorf("writer schema from %s: %w", from, err)
	}
	return cols, from, nil
}

// checkWriterSchema reports at start when the latest schema of an existing
// Avro table's subject cannot be written to it: the table's schema wins,
// and that subject's records would be bad records (schema_incompatible).
// A registry that does not answer is reported and left to the records.
func (p *pipeline) checkWriterSchema(ctx context.Context, tc config.Table, schema *arrow.Schema, topics []string) {
	if tc.Codec.Format != "avro" || p.registry == nil || tc.Codec.AvroSchema != "" || tc.Codec.AvroSchemaFile != "" ||
		(tc.Codec.SubjectNameStrategy != "" && tc.Codec.SubjectNameStrategy != registry.TopicNameStrategy) {
		return
	}
	for _, topic := range topics {
		subject, _ := registry.Subject(registry.TopicNameStrategy, topic, "", false)
		latest, err := p.registry.Latest(ctx, subject)
		switch {
		case errors.Is(err, registry.ErrUnknownSchema):
			p.log.Warn("the topic's subject has no schema in the registry yet", "table", tc.Name, "subject", subject)
			continue
		case err != nil:
			p.log.Warn("could not check the subject's latest schema against the table", "table", tc.Name, "subject", subject, "error", err)
			continue
		case latest.Type != sr.TypeAvro:
			p.log.Error("the subject's latest schema is not Avro: its records will be bad records (schema_incompatible)",
				"table", tc.Name, "subject", subject, "type", latest.Type.String())
			continue
		}
		if _, err := avro.New(latest.Schema.Schema, schema, tc.Codec); err != nil && !evolves(tc.Codec) {
			p.log.Error("the subject's latest schema cannot be written to the table, whose schema wins: its records will be bad records (schema_incompatible)",
				"table", tc.Name, "subject", subject, "version", latest.Version, "schema_id", latest.ID, "error", err)
		}
	}
}
