// Package catalogtest gives tests a real Iceberg catalog (SQLite, file://
// warehouse) and a wrapper that lets a test act around its commits: another
// writer committing first, a response lost after the catalog applied the
// commit, a 5xx. It is used by the tests of the packages that commit.
package catalogtest

import (
	"context"
	"sync"
	"testing"

	icecat "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/stretchr/testify/require"

	"github.com/floe-dev/floe/catalog"
)

// Open opens a SQL catalog on SQLite under a temporary directory and closes
// it when the test ends.
func Open(t testing.TB) icecat.Catalog {
	t.Helper()
	return OpenConfig(t, catalog.Local("test", t.TempDir()))
}

// OpenConfig opens cfg and closes the catalog when the test ends.
func OpenConfig(t testing.TB, cfg catalog.Config) icecat.Catalog {
	t.Helper()
	cat, err := catalog.Open(context.Background(), cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cat.(icecat.Closer).Close()) })
	return cat
}

// Faults wraps a real catalog and lets a test act around CommitTable:
// Before runs ahead of the real commit (e.g. another writer commits first,
// or the request fails before reaching the catalog), After may replace the
// result (e.g. the response is lost after the catalog applied the commit).
// Tables it loads commit through it. n counts CommitTable calls from 1.
type Faults struct {
	icecat.Catalog
	mu     sync.Mutex
	before func(n int) error
	after  func(n int, err error) error
	calls  int
}

// Wrap returns cat with no faults set.
func Wrap(cat icecat.Catalog) *Faults { return &Faults{Catalog: cat} }

// SetBefore installs the fault before each commit (nil: none).
func (f *Faults) SetBefore(before func(n int) error) {
	f.mu.Lock()
	f.before = before
	f.mu.Unlock()
}

// SetAfter installs the fault after each commit (nil: none).
func (f *Faults) SetAfter(after func(n int, err error) error) {
	f.mu.Lock()
	f.after = after
	f.mu.Unlock()
}

// Calls is the number of CommitTable calls so far.
func (f *Faults) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// LoadTable loads through the real catalog; the table commits through f.
func (f *Faults) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	t, err := f.Catalog.LoadTable(ctx, ident)
	if err != nil {
		return nil, err
	}
	return table.New(t.Identifier(), t.Metadata(), t.MetadataLocation(), t.FS, f), nil
}

// CommitTable commits through the real catalog between the faults.
func (f *Faults) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, ups []table.Update) (table.Metadata, string, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	before, after := f.before, f.after
	f.mu.Unlock()
	if before != nil {
		if err := before(n); err != nil {
			return nil, "", err
		}
	}
	meta, loc, err := f.Catalog.CommitTable(ctx, ident, reqs, ups)
	if after != nil {
		if aerr := after(n, err); aerr != nil {
			return nil, "", aerr
		}
	}
	return meta, loc, err
}
