// Lag metrics and the topic-ID watch, on one tick.

package consumer

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// lagLoop updates the lag metrics per owned partition: in records, the log
// end offset minus the table's offset; in seconds, while records wait, the
// age of the newest record the table holds (how far behind the table is).
// On the same tick it checks the topics' IDs and stops the consumer when
// one changed: a recreation the group protocol never reports (the
// partitions stay assigned) must not leave floe fetching errors forever.
func (c *Consumer) lagLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.checkTopicIDs(ctx); err != nil {
			c.setFatal(err)
			return
		}
		c.topicChecks.Add(1)
		topics, _ := c.snapshotTopics()
		if len(topics) == 0 {
			continue // none to read yet; no topics would list them all
		}
		ends, err := c.adm.ListEndOffsets(ctx, topics...)
		if err != nil {
			continue
		}
		now := time.Now()
		c.mu.Lock()
		ends.Each(func(o kadm.ListedOffset) {
			tp := topicPartition{o.Topic, o.Partition}
			next, ok := c.tableNext[tp]
			if !ok || o.Err != nil {
				return
			}
			behind := max(o.Offset-next, 0)
			c.m.lag.WithLabelValues(o.Topic, partLabel(o.Partition)).Set(float64(behind))
			secs := 0.0
			if newest, known := c.tableNewest[tp]; behind > 0 && known {
				secs = max(now.Sub(newest).Seconds(), 0)
			}
			c.m.lagSeconds.WithLabelValues(o.Topic, partLabel(o.Partition)).Set(secs)
		})
		c.mu.Unlock()
	}
}
