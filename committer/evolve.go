package committer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/evolution"
	"github.com/floe-dev/floe/tablecommit"
)

// ErrSchemaConflict means a record needs a schema change that is not a safe
// evolution of the table's schema (e.g. a column exists with another type).
var ErrSchemaConflict = errors.New("the record does not fit the table's schema and cannot be made to")

// Evolve changes the table's schema so that it has what ch asks for. Several
// replicas may evolve the same table at once: each change is committed with
// the schema it was based on asserted (AssertCurrentSchemaID), so a replica
// that loses the race reloads, finds the column (or the wider type) there
// and has nothing left to do; field IDs are never assigned twice. It returns
// nil once the table has the change, ErrSchemaConflict (wrapped) when the
// change cannot be made, or the last error when the commit timeout passes.
func (c *Committer) Evolve(ctx context.Context, ch *evolution.Change) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()
	commit := tablecommit.Commit{Target: c.target(c.load, "", "evolve_schema", func(err error) error {
		return c.catalogError("evolve schema of", err)
	})}
	err := commit.Run(ctx, c.backoff(), func(ctx context.Context) error {
		var (
			base    *iceberg.Schema
			changes []string
		)
		res, err := commit.Once(ctx, func(_ context.Context, tbl *table.Table, txn *table.Transaction) error {
			base = tbl.Schema()
			var err error
			if changes, err = stageSchema(c.tc.Name, base, txn, ch); err != nil {
				return tablecommit.Fatal(err)
			}
			if len(changes) == 0 {
				return tablecommit.ErrNothing // there already (another replica made it)
			}
			return nil
		})
		if err != nil || len(changes) == 0 {
			return err
		}
		c.mu.Lock()
		c.tbl = res.Table
		c.mu.Unlock()
		c.m.schemaChanges.Inc()
		c.log.Info("schema evolved", "changes", changes, "schema_id", res.Table.Schema().ID, "previous_schema_id", base.ID)
		return nil
	}, func(err error) { c.m.attemptErrors.WithLabelValues(catalog.Reason(err)).Inc() })
	var timeout *tablecommit.TimeoutError
	if errors.As(err, &timeout) {
		return fmt.Errorf("evolve the schema of %s: %w", c.tc.Name, err)
	}
	return err
}

// stageSchema adds to txn what of ch the table's schema sc lacks and says
// what it added; nothing when sc has it all. A change that is no safe
// evolution of sc is ErrSchemaConflict.
func stageSchema(tableName string, sc *iceberg.Schema, txn *table.Transaction, ch *evolution.Change) ([]string, error) {
	us := txn.UpdateSchema(true, false)
	var changes []string
	for _, nc := range ch.Add {
		path := nc.Path()
		name := strings.Join(path, ".")
		col, err := columnOf(nc.Field)
		if err != nil {
			return nil, fmt.Errorf("%w: new field %q: %v", ErrSchemaConflict, name, err)
		}
		want, err := columnType(col)
		if err != nil {
			return nil, fmt.Errorf("%w: new field %q: %v", ErrSchemaConflict, name, err)
		}
		what := "column"
		if len(nc.Parent) > 0 {
			what = "field"
			parent, ok := sc.FindFieldByName(strings.Join(nc.Parent, "."))
			if _, isStruct := parent.Type.(*iceberg.StructType); !ok || !isStruct {
				return nil, fmt.Errorf("%w: no struct column %q in %s to add %q to", ErrSchemaConflict, strings.Join(nc.Parent, "."), tableName, nc.Name)
			}
		}
		if f, ok := sc.FindFieldByName(name); ok {
			if !sameShape(f.Type, want) && !widerShape(f.Type, want) {
				return nil, fmt.Errorf("%w: %s %q of %s is %s, a record needs %s", ErrSchemaConflict, what, name, tableName, f.Type, want)
			}
			continue // there already (another replica added it)
		}
		us.AddColumn(path, want, "added by floe (schema-evolution: add-columns)", false, nil)
		changes = append(changes, fmt.Sprintf("add %s %s", name, want))
	}
	for _, w := range ch.Widen {
		name := strings.Join(w.Path, ".")
		f, ok := sc.FindFieldByName(name)
		if !ok {
			return nil, fmt.Errorf("%w: no column %q to widen in %s", ErrSchemaConflict, name, tableName)
		}
		long, double := w.To.ID() == arrow.INT64, w.To.ID() == arrow.FLOAT64
		var to iceberg.Type
		switch {
		case long && f.Type.Equals(iceberg.PrimitiveTypes.Int32):
			to = iceberg.PrimitiveTypes.Int64
		case double && f.Type.Equals(iceberg.PrimitiveTypes.Float32):
			to = iceberg.PrimitiveTypes.Float64
		case long && f.Type.Equals(iceberg.PrimitiveTypes.Int64),
			double && f.Type.Equals(iceberg.PrimitiveTypes.Float64):
			continue // widened already
		default:
			return nil, fmt.Errorf("%w: column %q of %s is %s and cannot be widened to %s", ErrSchemaConflict, name, tableName, f.Type, evolution.TypeName(w.To))
		}
		us.UpdateColumn(w.Path, table.ColumnUpdate{FieldType: iceberg.Optional[iceberg.Type]{Val: to, Valid: true}})
		changes = append(changes, fmt.Sprintf("widen %s %s to %s", name, f.Type, to))
	}
	if len(changes) == 0 {
		return nil, nil
	}
	if err := us.Commit(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSchemaConflict, err)
	}
	return changes, nil
}

// columnType builds the Iceberg type of a column floe adds.
func columnType(col Column) (iceberg.Type, error) {
	sc, err := BuildSchema([]Column{col})
	if err != nil {
		return nil, err
	}
	return sc.Field(0).Type, nil
}

// widerShape reports whether have already holds values of want after a
// widening (a long column for an inferred long is sameShape; an existing
// double for an inferred long is fine too).
func widerShape(have, want iceberg.Type) bool {
	return have.Equals(iceberg.PrimitiveTypes.Float64) && want.Equals(iceberg.PrimitiveTypes.Int64)
}

// columnOf is the one conversion from the Arrow fields decoders speak
// (evolution.Change, metadata columns) to the columns of floe's table
// schemas. It knows the types a decoder infers or fills.
func columnOf(f arrow.Field) (Column, error) {
	col := Column{Name: f.Name, Required: !f.Nullable}
	switch t := f.Type.(type) {
	case *arrow.StructType:
		col.Type = "struct"
		for _, sf := range t.Fields() {
			c, err := columnOf(sf)
			if err != nil {
				return Column{}, err
			}
			col.Fields = append(col.Fields, c)
		}
	case *arrow.ListType:
		e, err := columnOf(t.ElemField())
		if err != nil {
			return Column{}, err
		}
		e.Name = "element"
		col.Type, col.Element = "list", &e
	case *arrow.MapType:
		k, err := columnOf(t.KeyField())
		if err != nil {
			return Column{}, err
		}
		v, err := columnOf(t.ItemField())
		if err != nil {
			return Column{}, err
		}
		k.Name, k.Required, v.Name = "key", true, "value"
		col.Type, col.Key, col.Value = "map", &k, &v
	case *arrow.Decimal128Type:
		col.Type = fmt.Sprintf("decimal(%d, %d)", t.Precision, t.Scale)
	case *arrow.FixedSizeBinaryType:
		col.Type = fmt.Sprintf("fixed[%d]", t.ByteWidth)
	case *arrow.Time64Type:
		col.Type = "time"
	case *arrow.TimestampType:
		if t.Unit != arrow.Microsecond {
			return Column{}, fmt.Errorf("no table column type for Arrow type %s (floe's tables hold microseconds)", t)
		}
		col.Type = evolution.TypeName(t)
	case arrow.ExtensionType:
		if t.ExtensionName() != "arrow.uuid" {
			return Column{}, fmt.Errorf("no table column type for Arrow extension type %s", t.ExtensionName())
		}
		col.Type = "uuid"
	case *arrow.StringType, *arrow.LargeStringType, *arrow.BooleanType, *arrow.Int32Type, *arrow.Int64Type, *arrow.Float32Type,
		*arrow.Float64Type, *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.Date32Type:
		col.Type = evolution.TypeName(t)
	default:
		return Column{}, fmt.Errorf("no table column type for Arrow type %s", t)
	}
	return col, nil
}

// ColumnsOf is the table columns of Arrow fields, the inverse of the Arrow
// schema of a table floe created (table.SchemaToArrowSchema): every type a
// table column can have, nested ones included. A schema that comes from
// elsewhere (a registry's Avro schema, mapped to Arrow) becomes a table's
// columns through it.
func ColumnsOf(fields []arrow.Field) ([]Column, error) { return columnsOf(fields) }

// columnsOf converts fields with columnOf.
func columnsOf(fields []arrow.Field) ([]Column, error) {
	out := make([]Column, len(fields))
	for i, f := range fields {
		c, err := columnOf(f)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		out[i] = c
	}
	return out, nil
}
