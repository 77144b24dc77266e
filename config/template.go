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

// RoutePlaceholder in a router's name (tables[].route-by) stands for the
// route value a record names.
const RoutePlaceholder = "{route}"

// IsRouter reports whether the table routes records by content (route-by).
func (t Table) IsRouter() bool { return t.RouteBy != "" }

// RouteSource splits route-by into what the value is read from (header or
// field) and its name.
func (t Table) RouteSource() (kind, name string) {
	kind, name, _ = strings.Cut(t.RouteBy, ":")
	return kind, name
}

// Allowed compiles allowed-tables to match whole table names; nil when
// there is none.
func (t Table) Allowed() (*regexp.Regexp, error) {
	return wholeNames("allowed-tables", t.AllowedTables)
}

// ForRoute is the table a router makes for a route value: its name with
// the value (as TableNamePart makes it) in place of {route}, no topics of
// its own, and the table properties floe.route-template and floe.route
// saying where it came from.
func (t Table) ForRoute(value string) Table {
	out := t.ForRoutePart(TableNamePart(value))
	out.Properties = maps.Clone(t.Properties)
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	out.Properties["floe.route-template"] = t.Name
	out.Properties["floe.route"] = value
	return out
}

// ForRoutePart is the table a router made with part in place of {route}.
func (t Table) ForRoutePart(part string) Table {
	out := t
	out.Name = strings.ReplaceAll(t.Name, RoutePlaceholder, part)
	out.Topics, out.TopicsPattern, out.RouteBy, out.AllowedTables = nil, "", "", ""
	return out
}

// validateRouter checks route-by, the name's {route} and allowed-tables.
func (t Table) validateRouter() error {
	if !t.IsRouter() {
		if strings.Contains(t.Name, RoutePlaceholder) {
			return fmt.Errorf("name: %s holds %s but route-by is not set", t.Name, RoutePlaceholder)
		}
		if t.AllowedTables != "" {
			return errors.New("allowed-tables: set without route-by")
		}
		return nil
	}
	kind, name := t.RouteSource()
	switch {
	case (kind != "header" && kind != "field") || name == "":
		return fmt.Errorf("route-by: must be header:<name> or field:<name>, got %q", t.RouteBy)
	case kind == "field" && t.Codec.Format != "json":
		return fmt.Errorf("route-by: %s reads a field of JSON values; with format %s, route by a header", t.RouteBy, t.Codec.Format)
	case t.IsTemplate():
		return fmt.Errorf("name: %s holds both %s and %s: a router's tables are named by the route value alone", t.Name, TopicPlaceholder, RoutePlaceholder)
	case !strings.Contains(t.Name, RoutePlaceholder):
		return fmt.Errorf("name: %s must hold %s with route-by (e.g. events.%s): each route value has a table of its own", t.Name, RoutePlaceholder, RoutePlaceholder)
	case t.AllowedTables == "":
		return fmt.Errorf("allowed-tables: required with route-by: the pattern of the tables records may be routed to (e.g. %q), so a producer cannot make or write any other",
			strings.ReplaceAll(regexp.QuoteMeta(t.Name), regexp.QuoteMeta(RoutePlaceholder), "(orders|payments)"))
	case strings.ContainsAny(t.DLQ.Table, "{}"):
		return fmt.Errorf("dlq.table: %s: a router's tables share one dead-letter table; name it without placeholders", t.DLQ.Table)
	case t.Codec.OnError == "dlq" && t.DLQ.Table == "":
		return errors.New("dlq.table: required with route-by and on-error: dlq (records that cannot be routed have no table of their own, and are dead-lettered there)")
	case t.Codec.Format == "json" && len(t.Schema) == 0:
		return errors.New("schema: required with route-by and format json: each table a record names is created with it")
	case evolvesSchema(t.Codec.SchemaEvolution):
		return errors.New("schema-evolution: not supported with route-by yet; declare the columns every routed table needs")
	}
	if err := placeholderIn(t.Name, RoutePlaceholder); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if _, err := t.Allowed(); err != nil {
		return err
	}
	return nil
}

func evolvesSchema(changes []string) bool {
	for _, e := range changes {
		if e != "none" {
			return true
		}
	}
	return false
}

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
	placeholder := TopicPlaceholder
	if t.IsRouter() {
		placeholder = RoutePlaceholder
	}
	before, after, _ := strings.Cut(t.Name, placeholder)
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
	if err := placeholderIn(t.Name, TopicPlaceholder); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if t.DLQ.Table != "" {
		if !strings.Contains(t.DLQ.Table, TopicPlaceholder) {
			return fmt.Errorf("dlq.table: %s must hold %s too: each table the template makes has a dead-letter table of its own", t.DLQ.Table, TopicPlaceholder)
		}
		if err := placeholderIn(t.DLQ.Table, TopicPlaceholder); err != nil {
			return fmt.Errorf("dlq.table: %w", err)
		}
	}
	if len(t.Topics) == 0 && t.TopicsPattern == "" {
		return errors.New("topics or topics-pattern: a template needs the topics it makes tables for")
	}
	return nil
}

// placeholderIn checks that placeholder ({topic} or {route}) stands once,
// in the table's part of namespace.table.
func placeholderIn(name, placeholder string) error {
	if strings.Count(name, placeholder) > 1 {
		return fmt.Errorf("%s holds %s more than once", name, placeholder)
	}
	ns, _, ok := cutLast(name, ".")
	if !ok || strings.Contains(ns, placeholder) || strings.ContainsAny(strings.ReplaceAll(name, placeholder, ""), "{}") {
		return fmt.Errorf("%s: %s may stand only in the table's part of namespace.table (e.g. raw.%s)", name, placeholder, placeholder)
	}
	return nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
