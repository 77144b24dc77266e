package config

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
)

// TopicPlaceholder in a table's name makes the table a template: one table
// per topic, named with the topic in its place.
const TopicPlaceholder = "{topic}"

// IsTemplate reports whether the table is a template (its name holds
// {topic}).
func (t Table) IsTemplate() bool { return strings.Contains(t.Name, TopicPlaceholder) }

// TableNamePart is what a topic becomes in a table name: lower case, each
// character other than a-z, 0-9 and _ replaced by _ ("Orders.EU-1" →
// "orders_eu_1"), so that most engines take it unquoted (not one that
// starts with a digit).
func TableNamePart(topic string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '_'
	}, topic)
}

// ForTopic is the table a template makes for topic: its name (and its
// dead-letter table's) with the topic in place of {topic}, fed by that topic
// alone, and the table properties floe.topic and floe.template set so that
// the table says where it came from.
func (t Table) ForTopic(topic string) Table {
	out := t.ForNamePart(TableNamePart(topic))
	out.Topics = []string{topic}
	out.Properties = maps.Clone(t.Properties)
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	out.Properties["floe.topic"] = topic
	out.Properties["floe.template"] = t.Name
	return out
}

// ForNamePart is the table a template made with part in place of {topic}
// (see NameShape), as the commands that read tables take it: its name and
// dead-letter table's, with the template's other settings.
func (t Table) ForNamePart(part string) Table {
	out := t
	out.Name = strings.ReplaceAll(t.Name, TopicPlaceholder, part)
	out.DLQ.Table = strings.ReplaceAll(t.DLQ.Table, TopicPlaceholder, part)
	out.Topics, out.TopicsPattern = nil, ""
	return out
}

// NameShape matches the names of the tables a template makes, capturing the
// topic's part.
func (t Table) NameShape() *regexp.Regexp {
	before, after, _ := strings.Cut(t.Name, TopicPlaceholder)
	return regexp.MustCompile(`^` + regexp.QuoteMeta(before) + `([a-z0-9_]+)` + regexp.QuoteMeta(after) + `$`)
}

// validateTemplate checks a template's name and dead-letter table.
func (t Table) validateTemplate() error {
	if !t.IsTemplate() {
		if strings.Contains(t.DLQ.Table, TopicPlaceholder) {
			return fmt.Errorf("dlq.table: %s holds %s but the table's name does not", t.DLQ.Table, TopicPlaceholder)
		}
		return nil
	}
	if err := placeholderInTablePart(t.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if t.DLQ.Table != "" {
		if !strings.Contains(t.DLQ.Table, TopicPlaceholder) {
			return fmt.Errorf("dlq.table: %s must hold %s too: each table the template makes has a dead-letter table of its own", t.DLQ.Table, TopicPlaceholder)
		}
		if err := placeholderInTablePart(t.DLQ.Table); err != nil {
			return fmt.Errorf("dlq.table: %w", err)
		}
	}
	if len(t.Topics) == 0 && t.TopicsPattern == "" {
		return errors.New("topics or topics-pattern: a template needs the topics it makes tables for")
	}
	return nil
}

// placeholderInTablePart checks that {topic} stands once, in the table's
// part of namespace.table.
func placeholderInTablePart(name string) error {
	if strings.Count(name, TopicPlaceholder) > 1 {
		return fmt.Errorf("%s holds %s more than once", name, TopicPlaceholder)
	}
	ns, _, ok := cutLast(name, ".")
	if !ok || strings.Contains(ns, TopicPlaceholder) || strings.ContainsAny(strings.ReplaceAll(name, TopicPlaceholder, ""), "{}") {
		return fmt.Errorf("%s: %s may stand only in the table's part of namespace.table (e.g. raw.%s)", name, TopicPlaceholder, TopicPlaceholder)
	}
	return nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
