package maintenance

import (
	"context"
	"fmt"

	"github.com/apache/iceberg-go/table"

	"github.com/floe-dev/floe/tablecommit"
)

// ManifestsConfig is the manifest rewrite: when the head references more
// than Max manifests (a table floe did not create, so without manifest
// merging on append, or one written by other engines), they are rewritten
// into as few as the target size allows (commit.manifest.target-size-bytes,
// 8 MiB) in a snapshot of their own (operation replace, no data changed).
type ManifestsConfig struct {
	Enabled bool `koanf:"enabled"`
	Max     int  `koanf:"max"`
}

// Validate reports the first invalid field, relative to the manifests
// section.
func (m ManifestsConfig) Validate() error {
	if m.Max < 1 {
		return fmt.Errorf("max: must be at least 1, got %d", m.Max)
	}
	return nil
}

// ManifestsResult is what a manifest rewrite did or, in a dry run, would do.
type ManifestsResult struct {
	// Before is the number of manifests the head referenced.
	Before int `json:"manifests_before"`
	// Rewritten and Added count the manifests replaced and written
	// (in a dry run: that would be).
	Rewritten int  `json:"manifests_rewritten"`
	Added     int  `json:"manifests_added"`
	Committed bool `json:"committed"`
}

// RewriteManifests rewrites the head's manifests when there are more than
// cfg.Max (every: whenever it changes something), in one commit of its own
// that, like an expiry, re-plans when it loses to ingestion.
func RewriteManifests(ctx context.Context, t Table, cfg ManifestsConfig, every, apply bool) (ManifestsResult, error) {
	if err := cfg.Validate(); err != nil {
		return ManifestsResult{}, fmt.Errorf("manifests: %w", err)
	}
	var res ManifestsResult
	out, err := t.commitAlone(ctx, "", func(ctx context.Context, tbl *table.Table, txn *table.Transaction) error {
		res = ManifestsResult{}
		return stageManifests(ctx, tbl, txn, cfg, every, apply, &res)
	})
	res.Committed = out.landed
	if err != nil {
		return res, fmt.Errorf("rewrite manifests of %s: %w", t.Name, err)
	}
	return res, nil
}

func stageManifests(ctx context.Context, tbl *table.Table, txn *table.Transaction, cfg ManifestsConfig, every, apply bool, res *ManifestsResult) error {
	head := tbl.CurrentSnapshot()
	if head == nil {
		return tablecommit.ErrNothing
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return err
	}
	mans, err := head.Manifests(fs)
	if err != nil {
		return fmt.Errorf("read the manifest list of snapshot %d: %w", head.SnapshotID, err)
	}
	res.Before = len(mans)
	if !every && len(mans) <= cfg.Max {
		return tablecommit.ErrNothing
	}
	if !apply {
		return tablecommit.ErrNothing // a dry run does not write manifests
	}
	out, err := txn.RewriteManifests(ctx)
	if err != nil {
		return err
	}
	if out.IsNoOp() {
		return tablecommit.ErrNothing
	}
	res.Rewritten, res.Added = len(out.RewrittenManifests), len(out.AddedManifests)
	return nil
}
