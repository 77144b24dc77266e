package consumer

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Waiting to decode a record again: the first retry after retryMin (short:
// a new writer schema ID is fetched meanwhile, and usually there by then),
// doubling to retryMax while it keeps failing.
const (
	retryMin = 250 * time.Millisecond
	retryMax = 10 * time.Second
)

// errWaitRetry: the record cannot be decoded now; its partition waits.
var errWaitRetry = errors.New("waiting to decode a record again")

// waitRetry stops st's partition at rec, which the decoder cannot decode
// now (derr wraps codec.ErrRetry): the partition is paused and skips what
// it was handed, and applyRetries re-seeks it to rec after the backoff.
// Nothing is lost or dead-lettered. c.mu held.
func (c *Consumer) waitRetry(st *partState, rec *kgo.Record, derr error, now time.Time) error {
	wait := retryMin << min(st.retries, 6)
	wait = min(wait, retryMax)
	st.retries++
	st.waitSchema, st.retryAt = true, now.Add(wait)
	c.sideMu.Lock()
	defer c.sideMu.Unlock()
	if c.retryErr == nil {
		c.log.Error("cannot decode records now: the partition waits and reads them again; nothing is skipped",
			"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "retry_in", wait, "error", derr)
	} else {
		c.log.Warn("still cannot decode; waiting again", "topic", rec.Topic, "partition", rec.Partition,
			"offset", rec.Offset, "retry_in", wait, "error", derr)
	}
	c.retryErr = derr
	c.cl.PauseFetchPartitions(map[string][]int32{rec.Topic: {rec.Partition}})
	c.m.paused.WithLabelValues("retry").Set(1)
	return errWaitRetry
}

// applyRetries lets the partitions whose wait is over read their record
// again: applySchemaSeeks re-seeks them, and they are resumed. c.mu held.
func (c *Consumer) applyRetries(now time.Time) {
	var resume map[string][]int32
	waiting := false
	for tp, st := range c.parts {
		switch {
		case st.retryAt.IsZero():
			continue
		case now.Before(st.retryAt):
			waiting = true
			continue
		}
		st.retryAt, st.reseek = time.Time{}, true
		if resume == nil {
			resume = map[string][]int32{}
		}
		resume[tp.topic] = append(resume[tp.topic], tp.partition)
	}
	if resume != nil {
		c.cl.ResumeFetchPartitions(resume)
	}
	if !waiting && c.retryErr != nil && resume == nil {
		// Every partition that waited has read its record again.
		stillFailing := false
		for _, st := range c.parts {
			if st.retries > 0 {
				stillFailing = true
			}
		}
		if !stillFailing {
			c.log.Info("decoding again: the records that waited were read")
			c.retryErr = nil
			c.m.paused.WithLabelValues("retry").Set(0)
		}
	}
}

// Unavailable is why partitions wait to decode a record again (the schema
// registry is down), or nil.
func (c *Consumer) Unavailable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retryErr
}
