package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"

	"github.com/floe-dev/floe/catalog"
	"github.com/floe-dev/floe/codec"
	"github.com/floe-dev/floe/committer"
	"github.com/floe-dev/floe/config"
	"github.com/floe-dev/floe/consumer"
)

// router makes the consumer's route for a table with route-by: records go
// to the tables their content names, made the first time a value names
// one (if allowed-tables lets it), and to the dead-letter table when no
// table may take them (on-error: dlq). The tables earlier runs made are
// opened now: their offsets say where each partition starts.
func (p *pipeline) router(ctx context.Context, tc config.Table) (*consumer.Route, error) {
	kind, name := tc.RouteSource()
	value := func(m *codec.Message) (string, bool) {
		for _, h := range m.Headers {
			if h.Key == name {
				return string(h.Value), len(h.Value) > 0
			}
		}
		return "", false
	}
	if kind == "field" {
		value = func(m *codec.Message) (string, bool) {
			v, ok := codec.TopLevelString(m.Value, name)
			return v, ok && v != ""
		}
	}
	rt := &consumer.Router{By: tc.RouteBy, Value: value, Table: p.routeTable(tc)}
	existing, err := routedTables(ctx, p.cat, tc)
	if err != nil {
		return nil, err
	}
	for _, v := range existing {
		r, err := rt.Table(ctx, v)
		if errors.Is(err, consumer.ErrRouteNotAllowed) {
			// allowed-tables was narrowed since: no record goes there now
			// (its floors are left out, which only reads more again).
			p.log.Warn("table made by route-by is not allowed any more: nothing is routed to it", "table", tc.ForRoute(v).Name, "router", tc.Name, "error", err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("table %s (made by route-by of %s): %w", tc.ForRoute(v).Name, tc.Name, err)
		}
		rt.Tables = append(rt.Tables, r)
	}
	if tc.Codec.OnError == codec.OnErrorDLQ {
		if rt.Letters, err = p.openLetters(ctx, tc); err != nil {
			return nil, err
		}
	}
	return &consumer.Route{Topics: tc.Topics, OnError: tc.Codec.OnError, MaxLetterValue: tc.DLQ.MaxValueBytes,
		Template: tc.Name, Router: rt}, nil
}

// routeTable makes (or loads) the table a route value names: allowed by
// allowed-tables, not a configured table nor another template's, and — if
// it exists — made by this router (its floe.route-template property).
// Each table is opened once; values naming the same table share it.
func (p *pipeline) routeTable(tc config.Table) func(context.Context, string) (*consumer.Route, error) {
	allowed, _ := tc.Allowed() // validated
	self := "route-by of " + tc.Name
	return func(ctx context.Context, value string) (*consumer.Route, error) {
		// Errors name the table, never the raw value (record content).
		if len(value) > maxRouteValue {
			return nil, fmt.Errorf("%w: %s holds %d bytes, over the %d a route value may have", consumer.ErrRouteNotAllowed, tc.RouteBy, len(value), maxRouteValue)
		}
		t := tc.ForRoute(value)
		key := strings.ToLower(t.Name)
		if !allowed.MatchString(t.Name) {
			return nil, fmt.Errorf("%w: %s names table %s, which allowed-tables %q does not match",
				consumer.ErrRouteNotAllowed, tc.RouteBy, t.Name, tc.AllowedTables)
		}
		p.mu.Lock()
		if r := p.spawned[key]; r != nil && p.names[key] == self {
			p.mu.Unlock()
			return r, nil
		}
		if other, taken := p.names[key]; taken && other != self {
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: %s names table %s, which is %s's", consumer.ErrRouteNotAllowed, tc.RouteBy, t.Name, other)
		}
		p.names[key] = self
		p.mu.Unlock()
		release := func() {
			p.mu.Lock()
			delete(p.names, key)
			p.mu.Unlock()
		}
		ctx = p.store.Context(ctx)
		if tbl, err := loadTable(ctx, p.cat, t.Name); err == nil {
			if from := tbl.Properties()["floe.route-template"]; from != tc.Name {
				release()
				return nil, fmt.Errorf("%w: %s names table %s, which exists but was not made by %s (its floe.route-template property is %q)",
					consumer.ErrRouteNotAllowed, tc.RouteBy, t.Name, self, from)
			}
		}
		// The router's topics give a table created from the registry its
		// schema; the consumer routes them, not to the table directly.
		_, route, err := p.openTable(ctx, t, tableTarget{Group: p.cfg.Kafka.Group, Found: tc.Topics})
		if err != nil {
			release()
			if refused(err) {
				// Asking again cannot help: the record is a bad record, not
				// one its partition waits on for ever.
				return nil, fmt.Errorf("%w: %s names table %s, which the catalog refuses to make: %v", consumer.ErrRouteNotAllowed, tc.RouteBy, t.Name, err)
			}
			return nil, err
		}
		p.mu.Lock()
		p.spawned[key] = route
		p.mu.Unlock()
		p.log.Info("table from route-by", "table", t.Name, "router", tc.Name, "value", value)
		return route, nil
	}
}

// maxRouteValue bounds a route value: a table name past the catalogs' limits
// (255 in Glue and Hive, less in some engines) is a producer's mistake.
const maxRouteValue = 128

// refused reports a catalog's answer that making the table again will not
// change: a name it rejects, a denial, a table floe cannot create.
func refused(err error) bool {
	var notCreatable *committer.TableNotCreatableError
	return errors.As(err, &notCreatable) || errors.Is(err, rest.ErrBadRequest) ||
		catalog.Reason(err) == catalog.ReasonAccessDenied
}

// routedTables lists the route values of the tables router tc made (their
// floe.route properties): in its namespace, of its name's shape, with
// floe.route-template naming it.
func routedTables(ctx context.Context, cat icecat.Catalog, tc config.Table) ([]string, error) {
	ident, _ := committer.ParseIdentifier(tc.Name) // validated: {route} is in the last part
	shape := tc.NameShape()
	var values []string
	for id, err := range cat.ListTables(ctx, ident[:len(ident)-1]) {
		if err != nil {
			if errors.Is(err, icecat.ErrNoSuchNamespace) {
				break // no table made yet
			}
			return nil, fmt.Errorf("list the tables of %s (route-by): %w", tc.Name, err)
		}
		name := strings.Join(id, ".")
		m := shape.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		tbl, err := loadTable(ctx, cat, name)
		if err != nil {
			return nil, err
		}
		if props := tbl.Properties(); props["floe.route-template"] == tc.Name {
			values = append(values, cmp.Or(props["floe.route"], m[1]))
		}
	}
	return values, nil
}

// openLetters opens the router's dead-letter table as a table of rows: the
// records no table takes become its rows, through a committer of their
// own, with the offsets they account for.
func (p *pipeline) openLetters(ctx context.Context, tc config.Table) (*consumer.Route, error) {
	lc := committer.DLQTableConfig(tc.TableConfig)
	lc.MaxFilesPerCommit = tc.MaxFilesPerCommit
	tbl, created, err := committer.LoadOrCreateTable(ctx, p.cat, lc, nil)
	if err != nil {
		return nil, fmt.Errorf("table %s: dlq.table: %w", tc.Name, err)
	}
	if created {
		p.log.Info("dead-letter table created", "table", lc.Name, "for", tc.Name, "location", tbl.Location())
	} else if err := committer.CheckDLQSchema(lc.Name, tbl.Schema()); err != nil {
		return nil, fmt.Errorf("table %s: dlq.table: %w", tc.Name, err)
	}
	com, err := committer.New(p.cfg.Commit, lc, committer.Deps{
		Catalog: p.cat, Endpoint: catalogEndpoint(p.cfg.Catalog), Table: tbl,
		Group: p.cfg.Kafka.Group, Identity: p.who,
	}, p.log, p.reg)
	if err != nil {
		return nil, err
	}
	schema, err := com.ArrowSchema()
	if err != nil {
		return nil, fmt.Errorf("table %s: dlq.table: arrow schema: %w", tc.Name, err)
	}
	p.mu.Lock()
	p.committers = append(p.committers, com)
	p.opened = append(p.opened, config.Table{TableConfig: lc, Maintenance: tc.Maintenance})
	p.mu.Unlock()
	return &consumer.Route{Schema: schema, Sink: com, OnError: codec.OnErrorFail,
		Decoder: letterRows{committer.LetterRows{Target: tc.Name, Version: version}}}, nil
}

// letterRows is committer.LetterRows as the consumer's Decoder: it takes
// dead letters only.
type letterRows struct{ committer.LetterRows }

func (letterRows) Append(codec.Row, *codec.Message) error {
	return errors.New("a dead-letter table's route takes dead letters only")
}
