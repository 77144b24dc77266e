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

// patterns reports whether a route takes topics by pattern, or is a
// template: then floe lists the cluster's topics.
func (c *Consumer) patterns() bool {
	for _, r := range c.routes {
		if r.Pattern != nil || r.Spawn != nil {
			return true
		}
	}
	return false
}

// matchRoute returns the route whose pattern matches topic, nil if none, or
// an error naming both tables if two patterns do.
func (c *Consumer) matchRoute(topic string) (*Route, error) {
	for _, r := range c.routes {
		if r.Spawn != nil && slices.Contains(r.Topics, topic) {
			return r, nil // a template lists it: listed wins over patterns
		}
	}
	var hit *Route
	for _, r := range c.routes {
		if r.Pattern == nil || !r.Pattern.MatchString(topic) {
			continue
		}
		if hit != nil {
			return nil, fmt.Errorf("topic %q matches the topics-pattern of tables %s and %s: a topic feeds one table; "+
				"narrow one of the patterns, or list the topic in one table's topics", topic, hit.table(), r.table())
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
	c.m.topics.WithLabelValues(r.table()).Inc()
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
		c.m.topics.WithLabelValues(r.table()).Dec()
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
	_, err = c.routeNew(ctx, md, true)
	return err
}

// ErrTopicRefused is what a template's Spawn wraps when the topic cannot
// have a table of its own (its name is another topic's table's): the topic
// is left out, at start too, and the rest goes on.
var ErrTopicRefused = errors.New("topic refused")

// match is a topic to route: the route that takes it, and its ID.
type match struct {
	topic string
	route *Route
	id    string
}

// routeNew routes the topics in md that a pattern (or a template's list)
// takes and no route has yet, and returns them. A topic that is not ready
// (a metadata error, e.g. while it is being created) waits for the next
// listing; one floe may not READ is left out, logged once, and so is one
// that two patterns match or whose template cannot make its table —
// except at start, where those stop floe. Topics found after the start are
// late: read from their first offset. A template's tables are made
// without c.mu held (Spawn talks to the catalog).
func (c *Consumer) routeNew(ctx context.Context, md kadm.Metadata, atStart bool) ([]string, error) {
	c.mu.Lock()
	var todo []match
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
			c.mu.Unlock()
			return nil, err
		}
		if err == nil && !hasOp(d.AuthorizedOperations, kadm.OpRead) {
			err = c.acc.explain(kerr.TopicAuthorizationFailed, "READ", name)
		}
		if err != nil {
			c.leaveOut(name, err)
			continue
		}
		m := match{topic: name, route: r}
		if d.ID != (kadm.TopicID{}) {
			m.id = d.ID.String()
		}
		todo = append(todo, m)
	}
	c.mu.Unlock()

	var added []string
	for _, m := range todo {
		if m.route.Spawn != nil {
			r, err := m.route.Spawn(ctx, m.topic)
			if err != nil {
				err = fmt.Errorf("table for topic %q from template %s: %w", m.topic, m.route.Template, err)
				if atStart && !errors.Is(err, ErrTopicRefused) {
					return added, err
				}
				c.mu.Lock()
				c.leaveOut(m.topic, err)
				c.mu.Unlock()
				continue
			}
			m.route = r
		}
		c.mu.Lock()
		c.register(m, atStart)
		c.mu.Unlock()
		added = append(added, m.topic)
	}
	return added, nil
}

// leaveOut logs, once, why a topic a pattern matches is not read. c.mu held.
func (c *Consumer) leaveOut(topic string, err error) {
	if c.leftOut[topic] == "" {
		c.log.Error("topic matches topics-pattern but is left out", "topic", topic, "error", err)
		c.m.topicsLeftOut.Inc()
	}
	c.leftOut[topic] = err.Error()
}

// register routes a found topic: to a template's new route, which joins
// the routes, or to the route whose pattern matched it. c.mu held.
func (c *Consumer) register(m match, atStart bool) {
	if c.leftOut[m.topic] != "" {
		delete(c.leftOut, m.topic)
		c.m.topicsLeftOut.Dec()
	}
	if !slices.Contains(c.routes, m.route) {
		c.routes = append(slices.Clone(c.routes), m.route)
		c.m.topics.WithLabelValues(m.route.table())
		if m.route.Sink != nil {
			c.watch(m.route.Sink)
		}
	}
	c.addTopic(m.route, m.topic)
	c.found[m.topic] = true
	if m.id != "" {
		ids := maps.Clone(c.topicIDs)
		if ids == nil {
			ids = map[string]string{}
		}
		ids[m.topic] = m.id
		c.topicIDs = ids
	}
	if atStart {
		c.log.Info("topic matches topics-pattern", "topic", m.topic, "table", m.route.table())
	} else {
		c.late[m.topic] = true
		c.log.Info("new topic matches topics-pattern: consuming it from its first offset", "topic", m.topic, "table", m.route.table())
	}
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
	added, _ := c.routeNew(ctx, md, false)
	c.mu.Lock()
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
			c.log.Info("topic deleted: its partitions are released", "topic", name, "table", r.table())
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
