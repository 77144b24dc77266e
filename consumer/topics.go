package consumer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/floe-dev/floe/codec"
)

// Topics by pattern. A route with a Pattern takes every topic whose name it
// matches and that no route lists by name. The topics there when floe
// starts are found in open and read like listed ones (from the table's
// offsets, else kafka.start-from). topicLoop lists the cluster's topics
// every kafka.topic-refresh-interval: a topic created since is added to the
// group's subscription and read from its first offset whatever start-from
// says (it did not exist when floe started, so all of it is new); a found
// topic that is gone from the cluster is dropped from the subscription and
// its partitions are released. The group's rebalance hands the partitions
// out, and adjust starts them from the table as for any other topic.

// patterns reports whether a route takes topics by pattern.
func (c *Consumer) patterns() bool {
	for _, r := range c.routes {
		if r.Pattern != nil {
			return true
		}
	}
	return false
}

// matchRoute returns the route whose pattern matches topic, nil if none, or
// an error naming both tables if two patterns do.
func (c *Consumer) matchRoute(topic string) (*Route, error) {
	var hit *Route
	for _, r := range c.routes {
		if r.Pattern == nil || !r.Pattern.MatchString(topic) {
			continue
		}
		if hit != nil {
			return nil, fmt.Errorf("topic %q matches the topics-pattern of tables %s and %s: a topic feeds one table; "+
				"narrow one of the patterns, or list the topic in one table's topics", topic, hit.Sink.Table(), r.Sink.Table())
		}
		hit = r
	}
	return hit, nil
}

// addTopic routes topic to r. The topic list and the ID map are replaced,
// never changed in place, so that a copy taken under c.mu stays valid.
// c.mu held (or before Run).
func (c *Consumer) addTopic(r *Route, topic string) {
	c.byTopic[topic] = r
	c.topics = append(slices.Clone(c.topics), topic)
	slices.Sort(c.topics)
	c.initTopicMetrics(r, topic)
	c.m.topics.WithLabelValues(r.Sink.Table()).Inc()
}

// removeTopic forgets a found topic that is gone from the cluster: drops
// its partitions' uncommitted work, its pause and access state (a topic of
// that name created later starts afresh) and its metric series. c.mu held.
func (c *Consumer) removeTopic(topic string) {
	for tp := range c.parts {
		if tp.topic == topic {
			c.closePart(tp)
		}
	}
	if r := c.byTopic[topic]; r != nil {
		c.m.topics.WithLabelValues(r.Sink.Table()).Dec()
	}
	if c.pausedTopics[topic] && c.cl != nil {
		c.cl.ResumeFetchTopics(topic) // franz-go keeps a purged topic's pause
	}
	delete(c.pausedTopics, topic)
	delete(c.denied, topic)
	for _, m := range []*prometheus.CounterVec{c.m.records, c.m.bytes, c.m.badRecords, c.m.withoutRow} {
		m.DeletePartialMatch(prometheus.Labels{"topic": topic})
	}
	delete(c.byTopic, topic)
	delete(c.found, topic)
	delete(c.late, topic)
	c.topics = slices.DeleteFunc(slices.Clone(c.topics), func(t string) bool { return t == topic })
	ids := maps.Clone(c.topicIDs)
	delete(ids, topic)
	c.topicIDs = ids
}

// initTopicMetrics starts the topic's bad-record series at 0.
func (c *Consumer) initTopicMetrics(r *Route, topic string) {
	for _, k := range codec.Kinds() {
		c.m.badRecords.WithLabelValues(topic, string(k), badOutcome(r.OnError))
	}
	if r.Deletes != "" {
		for _, k := range []codec.Kind{codec.KindCDCDelete, codec.KindCDCTruncate, codec.KindNullValue} {
			c.m.withoutRow.WithLabelValues(topic, string(k), badOutcome(r.Deletes))
		}
	}
}

// findTopics routes the topics in Kafka that a pattern matches, before the
// group client exists; readTopics then checks them with the listed ones.
func (c *Consumer) findTopics(ctx context.Context, adm *kadm.Client) error {
	md, err := adm.Metadata(kadm.WithAuthorizedOps(ctx))
	if err != nil {
		return fmt.Errorf("list kafka topics for topics-pattern: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.matchNew(md, true)
	return err
}

// matchNew routes the topics in md that a pattern matches and no route has
// yet, and returns them. A topic that is not ready (a metadata error, e.g.
// while it is being created) waits for the next listing; one floe may not
// READ is left out, logged once, and so is one that two patterns match —
// except at start, where that stops floe. Topics found after the start
// are late: read from their first offset. c.mu held.
func (c *Consumer) matchNew(md kadm.Metadata, atStart bool) ([]string, error) {
	var added []string
	for _, name := range slices.Sorted(maps.Keys(md.Topics)) {
		d := md.Topics[name]
		if d.IsInternal || d.Err != nil || c.byTopic[name] != nil {
			continue
		}
		r, err := c.matchRoute(name)
		if r == nil && err == nil {
			continue
		}
		if err != nil && atStart {
			return nil, err
		}
		if err == nil && !hasOp(d.AuthorizedOperations, kadm.OpRead) {
			err = c.acc.explain(kerr.TopicAuthorizationFailed, "READ", name)
		}
		if err != nil {
			if c.leftOut[name] == "" {
				c.log.Error("topic matches topics-pattern but is left out", "topic", name, "error", err)
				c.m.topicsLeftOut.Inc()
			}
			c.leftOut[name] = err.Error()
			continue
		}
		if c.leftOut[name] != "" {
			delete(c.leftOut, name)
			c.m.topicsLeftOut.Dec()
		}
		c.addTopic(r, name)
		c.found[name] = true
		if d.ID != (kadm.TopicID{}) {
			ids := maps.Clone(c.topicIDs)
			if ids == nil {
				ids = map[string]string{}
			}
			ids[name] = d.ID.String()
			c.topicIDs = ids
		}
		added = append(added, name)
		if atStart {
			c.log.Info("topic matches topics-pattern", "topic", name, "table", r.Sink.Table())
		} else {
			c.late[name] = true
			c.log.Info("new topic matches topics-pattern: consuming it from its first offset", "topic", name, "table", r.Sink.Table())
		}
	}
	return added, nil
}

// topicLoop refreshes the topics by pattern until ctx is done.
func (c *Consumer) topicLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.TopicRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.refreshTopics(ctx)
	}
}

// refreshTopics subscribes to the topics created since the last listing
// that a pattern matches (see matchNew), and releases found topics that are
// gone. A topic missing from the listing is gone only once Kafka says it
// does not exist: a topic whose DESCRIBE was taken away is missing too.
func (c *Consumer) refreshTopics(ctx context.Context) {
	md, err := c.adm.Metadata(kadm.WithAuthorizedOps(ctx))
	if err != nil {
		c.log.Warn("list kafka topics for topics-pattern; trying again later", "error", err)
		return
	}
	c.mu.Lock()
	added, _ := c.matchNew(md, false)
	var missing []string
	for name := range c.found {
		if _, ok := md.Topics[name]; !ok {
			missing = append(missing, name)
		}
	}
	for name := range c.leftOut {
		if _, ok := md.Topics[name]; !ok {
			delete(c.leftOut, name)
			c.m.topicsLeftOut.Dec()
		}
	}
	cl := c.cl
	c.mu.Unlock()
	if len(added) > 0 {
		cl.AddConsumeTopics(added...)
	}
	gone := c.deleted(ctx, missing)
	if len(gone) == 0 {
		return
	}
	cl.PurgeTopicsFromConsuming(gone...)
	c.mu.Lock()
	for _, name := range gone {
		if r := c.byTopic[name]; r != nil {
			c.removeTopic(name)
			c.log.Info("topic deleted: its partitions are released", "topic", name, "table", r.Sink.Table())
		}
	}
	c.mu.Unlock()
	c.poke()
}

// deleted returns, sorted, those of topics Kafka says do not exist.
func (c *Consumer) deleted(ctx context.Context, topics []string) []string {
	if len(topics) == 0 {
		return nil
	}
	md, err := c.adm.Metadata(ctx, topics...)
	if err != nil {
		return nil
	}
	var gone []string
	for _, t := range topics {
		if d, ok := md.Topics[t]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			gone = append(gone, t)
		}
	}
	slices.Sort(gone)
	return gone
}

// snapshotTopics returns the routed topics and their IDs as they are now.
func (c *Consumer) snapshotTopics() ([]string, map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.topics, c.topicIDs
}
