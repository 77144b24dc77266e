// Schema changes a record asks for, made off the poll loop.

package consumer

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/floe-dev/floe/batcher"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/evolution"
)

// errWaitSchema: the record needs a schema change, now being committed;
// its partition stops there until the change lands.
var errWaitSchema = errors.New("waiting for a schema change")

// needSchema stops st's partition at the record that asked for ch and, unless one is
// being committed already, starts committing the change on a goroutine of
// its own: the poll loop never waits on the catalog, so other partitions
// keep flowing and rebalances are not held up. A record may need a wider
// type and then new columns: a few changes, never more. c.mu held.
func (c *Consumer) needSchema(st *partState, ch *evolution.Change) error {
	if st.changeAt != ch.Offset {
		st.changeAt, st.changeRounds = ch.Offset, 0
	}
	if st.changeRounds == maxChangesPerRecord {
		return fmt.Errorf("table %s: the record still needs a schema change after %d were made: %w",
			st.route.Sink.Table(), st.changeRounds, ch)
	}
	st.changeRounds++
	st.waitSchema = true
	r := st.route
	c.sideMu.Lock()
	defer c.sideMu.Unlock()
	if c.evolving[r] {
		return errWaitSchema // read again when the change in flight lands
	}
	c.evolving[r] = true
	ctx := c.runCtx
	c.evolves.Add(1)
	go func() {
		defer c.evolves.Done()
		schema, dec, err := r.Evolve(ctx, ch)
		c.mu.Lock()
		c.evolved(r, ch, schema, dec, err)
		c.mu.Unlock()
		c.poke()
	}()
	return errWaitSchema
}

// evolved takes a committed schema change of r's table: every buffer of the
// route is sealed under the old schema (the committer writes those rows as
// the new one) and starts again with the new schema and decoder, and every
// partition that waited reads again from the record that stopped it. A
// *codec.DecodeError means the change cannot be made: the record that asked
// becomes a bad record. c.mu held.
func (c *Consumer) evolved(r *Route, ch *evolution.Change, schema *arrow.Schema, dec Decoder, err error) {
	delete(c.evolving, r)
	var bad *codec.DecodeError
	switch {
	case errors.As(err, &bad):
		if st := c.parts[topicPartition{ch.Topic, ch.Partition}]; st != nil && st.route == r {
			st.refusedAt, st.refused = ch.Offset, err
		}
	case err != nil:
		if c.fatal == nil && c.runCtx.Err() == nil {
			c.fatal = fmt.Errorf("table %s: %w", r.Sink.Table(), err)
		}
		return
	default:
		for tp, st := range c.parts {
			if st.route == r {
				c.seal(tp, st, batcher.ReasonSchema)
			}
		}
		r.Schema, r.Decoder = schema, dec
		for tp, st := range c.parts {
			if st.route == r {
				next := st.buf.Next()
				st.buf.Release()
				st.buf = batcher.NewBuffer(tp.topic, tp.partition, st.gen, next, schema, c.mem, c.cfg.Batch)
			}
		}
		c.log.Info("decoding with the table's new schema", "table", r.Sink.Table(), "change", ch.Error())
	}
	for _, st := range c.parts {
		if st.route == r && st.waitSchema {
			st.reseek = true
		}
	}
}

// applySchemaSeeks re-seeks the partitions whose schema change is done to
// the record that stopped them. On the poll goroutine before it polls (as
// franz-go asks of SetOffsets): until then the partition skips what it is
// handed, records past the one that stopped it included. c.mu held.
func (c *Consumer) applySchemaSeeks() {
	seek := map[string]map[int32]kgo.EpochOffset{}
	for tp, st := range c.parts {
		if !st.reseek {
			continue
		}
		st.reseek, st.waitSchema = false, false
		if seek[tp.topic] == nil {
			seek[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		seek[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: st.buf.Next()}
	}
	if len(seek) > 0 {
		c.cl.SetOffsets(seek)
	}
}
