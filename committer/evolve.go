package committer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

// SchemaChange is what a record needs from the table's schema: new optional
// top-level columns and wider types (tables[].schema-evolution).
type SchemaChange struct {
	Add []Column
	// AddIn are new optional fields of existing struct columns.
	AddIn []NestedColumn
	Widen []Widening
}

// NestedColumn is a new field of the struct column at Parent.
type NestedColumn struct {
	Parent []string
	Column
}

// Widening promotes the column at Path to To: "long" (from int) or
// "double" (from float).
type Widening struct {
	Path []string
	To   string
}

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
func (c *Committer) Evolve(ctx context.Context, ch SchemaChange) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.backoff(ctx, attempt); err != nil {
				return fmt.Errorf("evolve the schema of %s: %w (last error: %v)", c.tc.Name, err, lastErr)
			}
		}
		done, err := c.evolveOnce(ctx, ch)
		if err == nil && done {
			return nil
		}
		if errors.Is(err, ErrSchemaConflict) {
			return err
		}
		lastErr = err
		c.m.attemptErrors.WithLabelValues(errorReason(err)).Inc()
	}
}

// evolveOnce reads the table and commits what of ch it lacks; done is true
// when nothing was missing or the commit landed.
func (c *Committer) evolveOnce(ctx context.Context, ch SchemaChange) (done bool, err error) {
	tbl, err := c.load(ctx)
	if err != nil {
		return false, err
	}
	sc := tbl.Schema()
	txn := tbl.NewTransaction()
	us := txn.UpdateSchema(true, false)
	var changes []string
	for _, col := range ch.Add {
		want, err := columnType(col)
		if err != nil {
			return false, fmt.Errorf("%w: new column %q: %v", ErrSchemaConflict, col.Name, err)
		}
		if f, ok := sc.FindFieldByName(col.Name); ok {
			if !sameShape(f.Type, want) && !widerShape(f.Type, want) {
				return false, fmt.Errorf("%w: column %q of %s is %s, a record needs %s", ErrSchemaConflict, col.Name, c.tc.Name, f.Type, want)
			}
			continue // there already (another replica added it)
		}
		us.AddColumn([]string{col.Name}, want, "added by floe (schema-evolution: add-columns)", false, nil)
		changes = append(changes, fmt.Sprintf("add %s %s", col.Name, want))
	}
	for _, nc := range ch.AddIn {
		path := append(append([]string(nil), nc.Parent...), nc.Name)
		name := strings.Join(path, ".")
		want, err := columnType(nc.Column)
		if err != nil {
			return false, fmt.Errorf("%w: new field %q: %v", ErrSchemaConflict, name, err)
		}
		parent, ok := sc.FindFieldByName(strings.Join(nc.Parent, "."))
		if _, isStruct := parent.Type.(*iceberg.StructType); !ok || !isStruct {
			return false, fmt.Errorf("%w: no struct column %q in %s to add %q to", ErrSchemaConflict, strings.Join(nc.Parent, "."), c.tc.Name, nc.Name)
		}
		if f, ok := sc.FindFieldByName(name); ok {
			if !sameShape(f.Type, want) && !widerShape(f.Type, want) {
				return false, fmt.Errorf("%w: field %q of %s is %s, a record needs %s", ErrSchemaConflict, name, c.tc.Name, f.Type, want)
			}
			continue
		}
		us.AddColumn(path, want, "added by floe (schema-evolution: add-columns)", false, nil)
		changes = append(changes, fmt.Sprintf("add %s %s", name, want))
	}
	for _, w := range ch.Widen {
		name := strings.Join(w.Path, ".")
		f, ok := sc.FindFieldByName(name)
		if !ok {
			return false, fmt.Errorf("%w: no column %q to widen in %s", ErrSchemaConflict, name, c.tc.Name)
		}
		var to iceberg.Type
		switch {
		case w.To == "long" && f.Type.Equals(iceberg.PrimitiveTypes.Int32):
			to = iceberg.PrimitiveTypes.Int64
		case w.To == "double" && f.Type.Equals(iceberg.PrimitiveTypes.Float32):
			to = iceberg.PrimitiveTypes.Float64
		case w.To == "long" && f.Type.Equals(iceberg.PrimitiveTypes.Int64),
			w.To == "double" && f.Type.Equals(iceberg.PrimitiveTypes.Float64):
			continue // widened already
		default:
			return false, fmt.Errorf("%w: column %q of %s is %s and cannot be widened to %s", ErrSchemaConflict, name, c.tc.Name, f.Type, w.To)
		}
		us.UpdateColumn(w.Path, table.ColumnUpdate{FieldType: iceberg.Optional[iceberg.Type]{Val: to, Valid: true}})
		changes = append(changes, fmt.Sprintf("widen %s %s to %s", name, f.Type, to))
	}
	if len(changes) == 0 {
		return true, nil
	}
	if err := us.Commit(); err != nil {
		return false, fmt.Errorf("%w: %v", ErrSchemaConflict, err)
	}
	start := time.Now()
	newTbl, err := txn.Commit(ctx)
	c.m.catalogDuration.WithLabelValues("evolve_schema", status(err)).Observe(time.Since(start).Seconds())
	if err != nil {
		return false, c.catalogError("evolve schema of", err)
	}
	c.mu.Lock()
	c.tbl = newTbl
	c.mu.Unlock()
	c.m.schemaChanges.Inc()
	c.log.Info("schema evolved", "changes", changes, "schema_id", newTbl.Schema().ID,
		"previous_schema_id", sc.ID)
	return true, nil
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
