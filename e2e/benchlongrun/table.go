package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"

	"github.com/floe-dev/floe/e2e/internal/floebench"
	"github.com/floe-dev/floe/offsets"
)

// sample is the table's metadata as a reader finds it at one moment.
type sample struct {
	commit        int       // the commit (1-based, in log order) that made the current snapshot
	at            time.Time // when it was taken
	metadataBytes int64     // the current metadata.json
	snapshots     int       // retained snapshots
	refs          int       // branches and tags
	manifests     int       // in the current snapshot's manifest list
	manifestBytes int64     // their total size
	dataFiles     int64     // total-data-files of the current snapshot
	dataBytes     int64     // total-files-size of the current snapshot
	totalRecords  int64     // total-records of the current snapshot
	metaDirFiles  int       // every file under the table's metadata/
	metaDirBytes  int64
	// metaDirBytes by kind: metadata.json files (the current one and the
	// previous versions kept), manifest lists (snap-*.avro), the rest
	// (manifests and anything else).
	metaDirJSONBytes, metaDirListBytes int64
	offsets                            map[int32]int64 // floe.offsets.<group> for the topic; nil when it cannot be read
}

// metadataFile is the part of a table's metadata.json a sample reads.
type metadataFile struct {
	Location          string `json:"location"`
	CurrentSnapshotID *int64 `json:"current-snapshot-id"`
	Refs              map[string]struct {
		SnapshotID int64 `json:"snapshot-id"` // not through float64: IDs use all 63 bits
	} `json:"refs"`
	Snapshots []struct {
		SnapshotID   int64             `json:"snapshot-id"`
		ManifestList string            `json:"manifest-list"`
		Summary      map[string]string `json:"summary"`
	} `json:"snapshots"`
}

// sample reads the table: its metadata location from the catalog, then the
// metadata.json, the current manifest list and the metadata/ directory
// straight from the file:// warehouse. commits are those logged so far.
func (r *longrun) sample(ctx context.Context, commits []floebench.Commit) (sample, error) {
	s := sample{at: time.Now(), commit: len(commits)}
	loc, err := r.metadataLocation(ctx)
	if err != nil {
		return s, err
	}
	path, err := localPath(loc)
	if err != nil {
		return s, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read metadata: %w", err)
	}
	s.metadataBytes = int64(len(raw))
	var md metadataFile
	if err := json.Unmarshal(raw, &md); err != nil {
		return s, fmt.Errorf("parse %s: %w", path, err)
	}
	s.snapshots, s.refs = len(md.Snapshots), len(md.Refs)
	if md.CurrentSnapshotID != nil && *md.CurrentSnapshotID >= 0 {
		cur := *md.CurrentSnapshotID
		for i := len(commits) - 1; i >= 0; i-- {
			if commits[i].SnapshotID == cur {
				s.commit = i + 1
				break
			}
		}
		for _, snap := range md.Snapshots {
			if snap.SnapshotID != cur {
				continue
			}
			if err := s.readSnapshot(snap.ManifestList, snap.Summary, r.group, r.topic); err != nil {
				return s, err
			}
		}
	}
	if err := s.readOffsets(md, r.group, r.topic); err != nil {
		return s, err
	}
	dir, err := localPath(strings.TrimSuffix(md.Location, "/") + "/metadata")
	if err != nil {
		return s, err
	}
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while we walk
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // deleted while we walk
		}
		s.metaDirFiles++
		s.metaDirBytes += info.Size()
		switch name := d.Name(); {
		case strings.HasSuffix(name, ".metadata.json"):
			s.metaDirJSONBytes += info.Size()
		case strings.HasPrefix(name, "snap-") && strings.HasSuffix(name, ".avro"):
			s.metaDirListBytes += info.Size()
		}
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("walk %s: %w", dir, err)
	}
	return s, nil
}

// readOffsets reads floe.offsets.<group> from the snapshot floe's tag of
// that name points to (the head may be a maintenance commit without it),
// or from the current snapshot on a table without the tag.
func (s *sample) readOffsets(md metadataFile, group, topic string) error {
	key := offsets.Key(group)
	want := md.CurrentSnapshotID
	if ref, ok := md.Refs[key]; ok {
		want = &ref.SnapshotID
	}
	if want == nil {
		return nil
	}
	for _, snap := range md.Snapshots {
		v, ok := snap.Summary[key]
		if snap.SnapshotID != *want || !ok {
			continue
		}
		m, err := offsets.Decode(v)
		if err != nil {
			return fmt.Errorf("snapshot %d: %s: %w", snap.SnapshotID, key, err)
		}
		s.offsets = m.Topics[topic].Next
	}
	return nil
}

// readSnapshot fills in what the current snapshot says: its summary's
// totals and offsets, and its manifest list.
func (s *sample) readSnapshot(manifestList string, summary map[string]string, group, topic string) error {
	num := func(k string) int64 { n, _ := strconv.ParseInt(summary[k], 10, 64); return n }
	s.dataFiles, s.dataBytes, s.totalRecords = num("total-data-files"), num("total-files-size"), num("total-records")
	path, err := localPath(manifestList)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open manifest list: %w", err)
	}
	defer f.Close()
	manifests, err := iceberg.ReadManifestList(f)
	if err != nil {
		return fmt.Errorf("read manifest list %s: %w", path, err)
	}
	s.manifests = len(manifests)
	for _, mf := range manifests {
		s.manifestBytes += mf.Length()
	}
	return nil
}

// metadataLocation asks the REST catalog where the table's current
// metadata.json is.
func (r *longrun) metadataLocation(ctx context.Context) (string, error) {
	ns, name, _ := strings.Cut(r.table, ".")
	u := fmt.Sprintf("%s/v1/namespaces/%s/tables/%s", strings.TrimSuffix(r.env["E2E_REST_FILE_URI"], "/"), url.PathEscape(ns), url.PathEscape(name))
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("load table %s: %w", r.table, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", fmt.Errorf("load table %s: %s: %s", r.table, resp.Status, body)
	}
	var out struct {
		MetadataLocation string `json:"metadata-location"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("load table %s: %w", r.table, err)
	}
	return out.MetadataLocation, nil
}

// localPath turns a file: location of the warehouse (the REST catalog
// writes file:/a/b, tables say file:///a/b) into a path.
func localPath(loc string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil || (u.Scheme != "file" && u.Scheme != "") {
		return "", fmt.Errorf("%q is not a local file location: the run needs the file:// warehouse", loc)
	}
	return u.Path, nil
}

// follower reads floe's log as it grows and keeps its commit lines.
type follower struct {
	path    string
	f       *os.File
	partial []byte
}

// commits appends the commit lines written since the last call.
func (fl *follower) commits(out *[]floebench.Commit) error {
	if fl.f == nil {
		f, err := os.Open(fl.path)
		if err != nil {
			return err
		}
		fl.f = f
	}
	data, err := io.ReadAll(fl.f)
	if err != nil {
		return fmt.Errorf("read %s: %w", fl.path, err)
	}
	data = append(fl.partial, data...)
	last := bytes.LastIndexByte(data, '\n')
	fl.partial = append([]byte(nil), data[last+1:]...)
	for _, line := range bytes.Split(data[:last+1], []byte("\n")) {
		if c, ok := floebench.ParseCommit(line); ok {
			*out = append(*out, c)
		}
	}
	return nil
}

func (fl *follower) close() {
	if fl.f != nil {
		fl.f.Close()
	}
}
