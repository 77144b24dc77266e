#!/usr/bin/env python3
"""Independent readers for floe's e2e tests: PyIceberg and DuckDB.

Reads one Iceberg table twice, through two implementations that share no code
with floe (or with each other), and prints one JSON object with what each saw.
The Go tests judge the result; this script only reports.

Input: one JSON object on stdin:

    {
      "catalog": {
        "type": "rest" | "sql" | "glue" | "hive",
        "name": "e2e",                      # sql: the catalog_name floe writes
        "uri": "http://127.0.0.1:18181",    # rest URI, a postgres:// / sqlite:/// URI,
                                            # the Glue endpoint, or thrift://host:port
        "region": "us-east-1",              # glue: region and keys
        "access_key": "...", "secret_key": "...",
        "warehouse": "s3://bucket/prefix",
        "s3": {"endpoint": "http://127.0.0.1:17070", "region": "us-east-1",
               "access_key": "...", "secret_key": "..."},  # optional
        "gcs": {"endpoint": "http://127.0.0.1:17080"},     # optional: an emulator, anonymous
        "adls": {"connection_string": "..."}              # optional: Azurite
      },
      "table": "namespace.table",
      "group": "floe consumer group",       # reads floe.offsets.<group>
      "id_column": "id",
      "expected_ids": ["o0000000", ...],    # optional: reports missing/unexpected ids
      "partition_column": "_kafka_partition",  # optional: per-partition offset coverage
      "offset_column": "_kafka_offset",
      "topic_column": "_kafka_topic",       # optional: coverage per topic and partition
      "time_travel": false,                 # optional: read every retained snapshot
      "orphans": false,                     # optional: unreferenced data files (file://, gs://, abfs://)
      "aggregates": true                    # optional: false for a table without record(i)'s columns
    }

or that object with "tables": [{"table": ..., "expected_ids": [...]}, ...] in place of
"table" and "expected_ids" (each entry's keys override the object's): reads each table
as above, in one run, and prints {"tables": [{"pyiceberg": ..., "duckdb": ...}, ...]}
in the same order;

or {"mode": "decode", "offsets": "<floe.offsets.* value>", "ranges": "<floe.ranges
value>"} (either optional): prints {"offsets": {...}, "ranges": [...]}, the values
decoded by decode_offsets and decode_ranges below, without reading a table.

Output (stdout): {"pyiceberg": {...}, "duckdb": {...}}. Each reader reports
rows, distinct_ids, duplicates (first few), missing/unexpected ids (first few,
with counts), column aggregates (sum_n, sum_amount, min_ts, max_ts, tags,
customer_id_sum) and per-partition offset coverage ("partitions": {"<p>": {...}};
with topic_column, "topic_partitions": {topic: {"<p>": {...}}} instead, for a
table several topics feed, each with its own partition 0). PyIceberg also reports the
current snapshot's floe.offsets.<group> (decoded by decode_offsets into floe's
JSON shape, {"cluster_id", "topics": {name: {"topic_id", "partitions": {"<p>":
next}, "floors": {"<p>": floor} (routed topics only)}}}), every snapshot ID, its
time and its own decoded offsets, and which of them
carry floe keys (with time_travel: each snapshot carrying the group's
offsets read as of itself; with orphans: the data files no retained snapshot
references); DuckDB lists the snapshot IDs (iceberg_snapshots). A reader that fails reports {"error": "..."} instead; the
script itself exits non-zero only on bad input.
"""

import base64
import json
import sys
import traceback
from decimal import Decimal

SAMPLE = 20  # ids listed per category; counts are always complete


def main():
    req = json.load(sys.stdin)
    if req.get("mode") == "decode":
        offsets = decode_offsets(req["offsets"]) if req.get("offsets") is not None else None
        out = {"offsets": offsets}
        if req.get("ranges") is not None:
            out["ranges"] = decode_ranges(req["ranges"], offsets)
    elif req.get("mode") == "pairs":
        out = {
            "pyiceberg": run_reader(pairs_pyiceberg, req),
            "duckdb": run_reader(pairs_duckdb, req),
        }
    elif req.get("tables") is not None:
        # Several tables in one run: Python and the readers' imports start
        # once. Each entry's keys override the request's for that table.
        out = {"tables": [read_both({**req, **one}) for one in req["tables"]]}
    else:
        out = read_both(req)
    json.dump(out, sys.stdout, default=str)
    sys.stdout.write("\n")


def read_both(req):
    return {
        "pyiceberg": run_reader(read_pyiceberg, req),
        "duckdb": run_reader(read_duckdb, req),
    }


def run_reader(fn, req):
    try:
        return fn(req)
    except Exception as e:  # reported, judged by the Go test
        return {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


# ---------------------------------------------------------------- PyIceberg


def pyiceberg_catalog(cat):
    from pyiceberg.catalog import load_catalog

    props = {}
    s3 = cat.get("s3") or {}
    if s3:
        props.update({
            "s3.endpoint": s3["endpoint"],
            "s3.region": s3["region"],
            "s3.access-key-id": s3["access_key"],
            "s3.secret-access-key": s3["secret_key"],
            "s3.force-virtual-addressing": "false",
        })
    props.update(gcs_adls_props(cat))
    if cat["type"] == "rest":
        props.update({"type": "rest", "uri": cat["uri"]})
        if cat.get("warehouse"):
            props["warehouse"] = cat["warehouse"]
    elif cat["type"] == "sql":
        props.update({
            "type": "sql",
            "uri": sqlalchemy_uri(cat["uri"]),
            "warehouse": cat["warehouse"],
            # A reader: never create the catalog's tables.
            "init_catalog_tables": "false",
        })
    elif cat["type"] == "glue":
        props.update({
            "type": "glue",
            "glue.endpoint": cat["uri"],
            "glue.region": cat["region"],
            "glue.access-key-id": cat["access_key"],
            "glue.secret-access-key": cat["secret_key"],
        })
    elif cat["type"] == "hive":
        props.update({"type": "hive", "uri": cat["uri"], "warehouse": cat["warehouse"]})
    else:
        raise ValueError(f"unknown catalog type {cat['type']!r}")
    return load_catalog(cat.get("name") or "floe", **props)


def gcs_adls_props(cat):
    """PyIceberg's pyarrow file IO for the GCS and Azure emulators."""
    props = {}
    gcs = cat.get("gcs") or {}
    if gcs:
        # pyarrow's GcsFileSystem has no anonymous mode through PyIceberg: a
        # token the emulator ignores keeps it from looking for credentials.
        props.update({
            "gcs.service.host": gcs["endpoint"],
            "gcs.oauth2.token": "e2e-emulator",
            "gcs.oauth2.token-expires-at": str(4102444800000),  # 2100-01-01
        })
    adls = cat.get("adls") or {}
    if adls:
        # PyIceberg reads abfs:// through fsspec's adlfs.
        props["adls.connection-string"] = adls["connection_string"]
    return props


def sqlalchemy_uri(uri):
    """floe takes a libpq-style postgres:// DSN; SQLAlchemy wants a driver."""
    for prefix in ("postgres://", "postgresql://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg2://" + uri[len(prefix):]
    return uri


def load_table(req):
    """The table through PyIceberg, its files read with PyArrow: a catalog
    may name another FileIO in its answer (Nessie names fsspec, whose s3fs
    this venv lacks). Azure tables keep fsspec's adlfs (see gcs_adls_props)."""
    from pyiceberg.io.pyarrow import PyArrowFileIO
    from pyiceberg.table import Table

    catalog = pyiceberg_catalog(req["catalog"])
    tbl = catalog.load_table(req["table"])
    azure = tbl.metadata_location.startswith(("abfs", "wasb"))
    if type(tbl.io) is not PyArrowFileIO and not azure:
        props = dict(tbl.io.properties)
        props.pop("py-io-impl", None)
        tbl = Table(tbl._identifier, tbl.metadata, tbl.metadata_location, PyArrowFileIO(props), catalog)
    return catalog, tbl


def read_pyiceberg(req):
    import pyarrow.compute as pc

    catalog, tbl = load_table(req)
    arrow = tbl.scan().to_arrow()
    res = {"metadata_location": tbl.metadata_location}

    id_col = req.get("id_column", "id")
    ids = arrow.column(id_col).to_pylist()
    res.update(id_report(ids, req.get("expected_ids")))
    if req.get("aggregates", True):  # false: the table lacks record(i)'s columns
        res.update(aggregates_pyarrow(arrow, pc))
    cols = coverage_columns(req)
    if cols:
        res.update(coverage_report(zip(*(arrow.column(c).to_pylist() for c in cols)), req))

    key = "floe.offsets." + req["group"]
    snap = tbl.current_snapshot()
    res["current_snapshot_id"] = snap.snapshot_id if snap else None
    # floe tags the snapshot holding the group's newest offsets with the key
    # itself; the head may be another writer's (an expiry keeps the tag, a
    # manifest rewrite adds a snapshot without the key).
    ref = tbl.metadata.refs.get(key)
    res["offsets_tag"] = ref.snapshot_id if ref else None
    held = tbl.metadata.snapshot_by_id(ref.snapshot_id) if ref else snap
    summary = held.summary if held else None
    raw = summary.additional_properties.get(key) if summary else None
    res["offsets"] = decode_offsets(raw) if raw else None
    res["snapshots"] = []
    for s in tbl.metadata.snapshots:
        props = s.summary.additional_properties if s.summary else {}
        res["snapshots"].append({
            "snapshot_id": s.snapshot_id,
            "parent_id": s.parent_snapshot_id,
            "floe": key in props,
            "commit_id": props.get("floe.commit-id"),
            "added_records": int(props.get("added-records", "0")),
            "operation": s.summary.operation.value if s.summary else None,
            "timestamp_ms": s.timestamp_ms,
            "offsets": decode_offsets(props[key]) if key in props else None,
        })
    if req.get("time_travel") and cols:
        res["time_travel"] = time_travel(tbl, key, cols, req)
    if req.get("orphans"):
        res["orphans"] = orphan_data_files(tbl)
    return res


def time_travel(tbl, key, cols, req):
    """Every retained snapshot carrying the group's offsets, read as of
    itself: its offsets and the coverage of the rows it holds (cols:
    coverage_columns)."""
    out = []
    for s in tbl.metadata.snapshots:
        raw = s.summary.additional_properties.get(key) if s.summary else None
        if raw is None:
            continue
        arrow = tbl.scan(snapshot_id=s.snapshot_id, selected_fields=tuple(cols)).to_arrow()
        snap = {"snapshot_id": s.snapshot_id, "offsets": decode_offsets(raw)}
        snap.update(coverage_report(zip(*(arrow.column(c).to_pylist() for c in cols)), req))
        out.append(snap)
    return out


def orphan_data_files(tbl):
    """Data files under a table's data/ directory that no retained snapshot
    references, with their modification time (Unix seconds): file:// tables
    listed with os, gs:// and abfs:// ones through the table's own file IO
    (pyarrow's GcsFileSystem, adlfs)."""
    import os
    from urllib.parse import urlparse

    loc = urlparse(tbl.location())
    if loc.scheme in ("", "file"):
        referenced = {urlparse(p).path for p in tbl.inspect.all_data_files().column("file_path").to_pylist()}
        out = []
        for root, _, files in os.walk(os.path.join(loc.path, "data")):
            for f in files:
                path = os.path.join(root, f)
                if f.endswith(".parquet") and path not in referenced:
                    out.append({"path": path, "mtime": os.path.getmtime(path)})
        return out
    if loc.scheme not in ("gs", "abfs", "abfss"):
        raise ValueError(f"orphans: file://, gs:// and abfs:// tables are listed, not {tbl.location()}")
    referenced = set(tbl.inspect.all_data_files().column("file_path").to_pylist())
    data = tbl.location().rstrip("/") + "/data"
    prefix = f"{loc.scheme}://{loc.netloc}/"
    out = []
    if loc.scheme == "gs":
        import pyarrow.fs as pafs

        scheme, netloc, path = tbl.io.parse_location(data)
        fs = tbl.io.fs_by_scheme(scheme, netloc)
        for fi in fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True)):
            full = "gs://" + fi.path
            if fi.is_file and full.endswith(".parquet") and full not in referenced:
                out.append({"path": full, "mtime": fi.mtime.timestamp()})
    else:
        fs = tbl.io.get_fs(loc.scheme)
        container = loc.netloc.split("@", 1)[0]
        for path, info in fs.find(data, detail=True).items():
            # adlfs names objects "<container>/<key>"
            full = prefix + path.split("/", 1)[1] if path.startswith(container + "/") else path
            if full.endswith(".parquet") and full not in referenced:
                mtime = info.get("last_modified")
                out.append({"path": full, "mtime": mtime.timestamp() if mtime else 0})
    return out


def int_or_none(v):
    return int(v) if v is not None else None


def aggregates_pyarrow(arrow, pc):
    import pyarrow as pa

    def scalar(v):
        return v.as_py() if v is not None else None

    customer = arrow.column("customer")
    ts = arrow.column("ts")
    return {
        # As a decimal: an int64 sum wraps around past 2^63 (a million
        # records of the e2e data get there); DuckDB sums into a HUGEINT.
        "sum_n": int_or_none(scalar(pc.sum(pc.cast(arrow.column("n"), pa.decimal128(38, 0))))),
        "sum_amount": decimal_str(scalar(pc.sum(arrow.column("amount")))),
        "min_ts": ts_str(scalar(pc.min(ts))),
        "max_ts": ts_str(scalar(pc.max(ts))),
        "tags": scalar(pc.sum(pc.list_value_length(arrow.column("tags")))),
        "customer_id_sum": scalar(pc.sum(pc.struct_field(customer, "id"))),
    }


# ---------------------------------------------------------------- DuckDB


def duckdb_connect(cat):
    import duckdb
    import duckdb_extensions

    s3 = cat.get("s3")
    con = duckdb.connect()
    # Offline: the extensions come from PyPI wheels, never from the network.
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    for ext in ("httpfs", "avro", "iceberg"):
        duckdb_extensions.import_extension(ext, con=con)  # installs the wheel's copy
        con.execute(f"LOAD {ext}")
    if s3:
        endpoint = s3["endpoint"]
        use_ssl = endpoint.startswith("https://")
        endpoint = endpoint.split("://", 1)[-1].rstrip("/")
        con.execute(
            f"CREATE SECRET e2e_s3 (TYPE s3, KEY_ID {sql_str(s3['access_key'])}, "
            f"SECRET {sql_str(s3['secret_key'])}, REGION {sql_str(s3['region'])}, "
            f"ENDPOINT {sql_str(endpoint)}, URL_STYLE 'path', USE_SSL {'true' if use_ssl else 'false'})")
    if cat.get("gcs") or cat.get("adls"):
        register_arrow_filesystems(con, cat)
    return con


def register_arrow_filesystems(con, cat):
    """DuckDB reads gs:// and abfs:// here through fsspec filesystems it is
    given: for gs:// pyarrow's GcsFileSystem (the one PyIceberg's file IO
    builds, with the same settings) behind a small fsspec adapter, for abfs://
    adlfs. DuckDB's own GCS access is S3 interoperability with HMAC keys,
    which fake-gcs-server lacks, and its azure extension is not among the
    offline wheels. DuckDB's Iceberg, Avro and Parquet readers are its own;
    only the bytes come through these filesystems."""
    import fsspec

    if cat.get("gcs"):
        import pyarrow.fs as pafs
        from pyiceberg.io.pyarrow import PyArrowFileIO

        io = PyArrowFileIO(gcs_adls_props({"gcs": cat["gcs"]}))

        class ArrowGCS(fsspec.AbstractFileSystem):
            protocol = ("gs",)

            def _fs_key(self, path):
                path = str(path)
                if "://" not in path:
                    path = "gs://" + path
                scheme, netloc, key = io.parse_location(path)
                return io.fs_by_scheme(scheme, netloc), key

            def _open(self, path, mode="rb", **kw):
                if "r" not in mode:
                    raise PermissionError(f"{path}: read only")
                import io as pyio

                # Whole, into memory (the test tables' files are small):
                # fake-gcs-server answers a ranged read at the end of an
                # object with 416, which DuckDB's reads would reach.
                fs, key = self._fs_key(path)
                with fs.open_input_file(key) as f:
                    return pyio.BytesIO(f.readall())

            def info(self, path, **kw):
                fs, key = self._fs_key(path)
                fi = fs.get_file_info(key)
                if fi.type == pafs.FileType.NotFound:
                    raise FileNotFoundError(path)
                kind = "directory" if fi.type == pafs.FileType.Directory else "file"
                return {"name": path, "size": fi.size or 0, "type": kind}

            def modified(self, path):
                fs, key = self._fs_key(path)
                return fs.get_file_info(key).mtime

            def ls(self, path, detail=True, **kw):
                fs, key = self._fs_key(path)
                out = [{"name": "gs://" + f.path, "size": f.size or 0, "type": "file"}
                       for f in fs.get_file_info(pafs.FileSelector(key))]
                return out if detail else [o["name"] for o in out]

        con.register_filesystem(ArrowGCS())
    if cat.get("adls"):
        from adlfs import AzureBlobFileSystem

        con.register_filesystem(AzureBlobFileSystem(connection_string=cat["adls"]["connection_string"]))


def sql_str(s):
    return "'" + str(s).replace("'", "''") + "'"


def read_duckdb(req):
    cat = req["catalog"]
    con = duckdb_connect(cat)
    res = {}
    source = table_arg = None
    if cat["type"] == "rest":
        # The REST catalog itself, through DuckDB's own REST client.
        try:
            con.execute(
                "ATTACH {} AS lake (TYPE iceberg, ENDPOINT {}, AUTHORIZATION_TYPE 'none')".format(
                    sql_str(cat.get("warehouse") or ""), sql_str(cat["uri"])))
            ns, name = req["table"].rsplit(".", 1)
            source = "lake.{}.{}".format(quote_ident(ns), quote_ident(name))
            con.execute(f"SELECT count(*) FROM {source}").fetchone()
            table_arg = source
            res["method"] = "attach"
        except Exception as e:
            res["attach_error"] = f"{type(e).__name__}: {e}"
            source = None
    if source is None:
        # The metadata file the catalog points to, read by DuckDB alone.
        location = metadata_location_from_catalog(req)
        table_arg = sql_str(duckdb_path(location))
        source = f"iceberg_scan({table_arg})"
        res["method"] = "iceberg_scan"
        res["metadata_location"] = location

    id_col = quote_ident(req.get("id_column", "id"))
    ids = [r[0] for r in con.execute(f"SELECT {id_col} FROM {source}").fetchall()]
    res.update(id_report(ids, req.get("expected_ids")))
    # Timestamps leave DuckDB as text: a timestamptz object would need pytz.
    con.execute("SET TimeZone = 'UTC'")
    if req.get("aggregates", True):
        fmt = "'%Y-%m-%dT%H:%M:%S.%fZ'"
        row = con.execute(
            f"SELECT sum(n)::HUGEINT, sum(amount)::VARCHAR, "
            f"strftime(min(ts)::TIMESTAMP, {fmt}), strftime(max(ts)::TIMESTAMP, {fmt}), "
            f"sum(len(tags))::HUGEINT, sum(customer.id)::HUGEINT FROM {source}").fetchone()
        res.update({
            "sum_n": int(row[0]) if row[0] is not None else None,
            "sum_amount": decimal_str(Decimal(row[1])) if row[1] is not None else None,
            "min_ts": row[2],
            "max_ts": row[3],
            "tags": int(row[4]) if row[4] is not None else None,
            "customer_id_sum": int(row[5]) if row[5] is not None else None,
        })
    cols = coverage_columns(req)
    if cols:
        res.update(coverage_report(
            con.execute(f"SELECT {', '.join(quote_ident(c) for c in cols)} FROM {source}").fetchall(), req))
    res["snapshot_ids"] = sorted(
        int(r[0]) for r in con.execute(f"SELECT snapshot_id FROM iceberg_snapshots({table_arg})").fetchall())
    return res


def quote_ident(s):
    return '"' + s.replace('"', '""') + '"'


def duckdb_path(location):
    # Java writes file:/path, iceberg-go file:///path; DuckDB reads plain paths.
    if location.startswith("file:"):
        path = location[len("file:"):]
        while path.startswith("//"):
            path = path[1:]
        return path
    return location


def metadata_location_from_catalog(req):
    return pyiceberg_catalog(req["catalog"]).load_table(req["table"]).metadata_location


# ---------------------------------------------------------------- pairs mode
#
# {"mode": "pairs", "catalog": ..., "table": ..., "partition_column": ...,
#  "offset_column": ..., "label_column": ... (optional), "label_columns": [...]
#  (optional)} reports every row's [partition, offset, label, *label_columns]
# as {"pairs": [...]}: the dead-letter accounting compares the table's and the
# dead-letter table's offsets; label_columns let a test compare a row's values
# with what it produced (values as each reader returns them, JSON-encoded with
# str() for decimals and the like). "timestamp_columns": [...] (optional) names
# timestamptz columns among them that both readers return as RFC 3339 UTC text
# with microseconds (DuckDB's timestamptz objects would need pytz).


def pair_columns(req):
    cols = [req["partition_column"], req["offset_column"]]
    if req.get("label_column"):
        cols.append(req["label_column"])
    # label_columns (optional, after label_column): more columns, each row
    # then [partition, offset, label, *values] (an absent label is null).
    extra = req.get("label_columns") or []
    if extra and not req.get("label_column"):
        cols.append(None)
    cols.extend(extra)
    return cols


def pairs_pyiceberg(req):
    catalog, tbl = load_table(req)
    cols = pair_columns(req)
    arrow = tbl.scan(selected_fields=tuple(c for c in cols if c is not None)).to_arrow()
    lists = [arrow.column(c).to_pylist() if c is not None else [None] * arrow.num_rows for c in cols]
    if len(lists) == 2:
        lists.append([None] * arrow.num_rows)
    for k, c in enumerate(cols):
        if c is not None and c in (req.get("timestamp_columns") or []):
            lists[k] = [ts_str(v) for v in lists[k]]
    return {"pairs": [list(r) for r in zip(*lists)]}


def pairs_duckdb(req):
    cat = req["catalog"]
    con = duckdb_connect(cat)
    location = metadata_location_from_catalog(req)
    source = f"iceberg_scan({sql_str(duckdb_path(location))})"
    cols = [quote_ident(c) if c is not None else "NULL" for c in pair_columns(req)]
    if len(cols) == 2:
        cols.append("NULL")
    if req.get("timestamp_columns"):
        con.execute("SET TimeZone = 'UTC'")
        text = {quote_ident(c) for c in req["timestamp_columns"]}
        cols = [f"strftime({c}::TIMESTAMP, '%Y-%m-%dT%H:%M:%S.%fZ')" if c in text else c for c in cols]
    rows = con.execute(f"SELECT {', '.join(cols)} FROM {source}").fetchall()
    return {"pairs": [list(r) for r in rows], "metadata_location": location}


# ---------------------------------------------------------------- floe's summary values
#
# floe's own decoder is offsets/format.go; this one is written from its
# documentation (docs/EXACTLY-ONCE.md), so the format is checked to be
# readable without floe. Values written before the v2 format are JSON.


def decode_offsets(raw):
    """floe.offsets.<group> as {"cluster_id", "topics": {name: {"topic_id", "partitions": {"<p>": next}}}}."""
    if raw.startswith("{"):
        return json.loads(raw)
    fields = raw.split(";")
    if fields[0] != "v2" or len(fields) < 2:
        raise ValueError(f"not a floe offsets value: {raw[:40]!r}")
    out = {"cluster_id": unescape(fields[1]), "topics": {}}
    for field in fields[2:]:
        # A table a routed topic feeds also holds each partition's floor.
        name, topic_id, payload, *floors = field.split(":")
        topic = {"topic_id": unescape(topic_id), "partitions": decode_partition_offsets(payload)}
        if floors:
            topic["floors"] = decode_partition_offsets(floors[0])
        out["topics"][unescape(name)] = topic
    return out


def decode_partition_offsets(payload):
    """<partitions> (or <floors>): {"<p>": offset}."""
    ints, parts, prev = Varints(unbase64(payload)), {}, 0
    for p in partitions(ints):
        prev += ints.signed()  # the difference from the previous partition's
        parts[str(p)] = prev
    return parts


def decode_ranges(raw, offsets):
    """floe.ranges as [{"topic", "partition", "start", "end"}]; offsets is the
    same summary's decoded offsets value (ends are stored relative to it)."""
    if raw.startswith("["):
        return json.loads(raw)
    fields = raw.split(";")
    if fields[0] != "v2":
        raise ValueError(f"not a floe ranges value: {raw[:40]!r}")
    out = []
    for field in fields[1:]:
        name, payload = field.split(":")
        name = unescape(name)
        ints = Varints(unbase64(payload))
        for p in partitions(ints):
            v = ints.unsigned()
            if v & 1:
                end = ints.unsigned()
            else:
                end = offsets["topics"][name]["partitions"][str(p)]
            out.append({"topic": name, "partition": p, "start": end - (v >> 1), "end": end})
    return out


def unescape(s):
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] == "%":
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
        else:
            out += s[i].encode()
            i += 1
    return out.decode("utf-8", "surrogateescape")


def unbase64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Varints:
    """LEB128 varints, 7 bits a byte, low bits first."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def more(self):
        return self.pos < len(self.data)

    def unsigned(self):
        v = shift = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v

    def signed(self):  # zigzag
        u = self.unsigned()
        return (u >> 1) ^ -(u & 1)


def partitions(ints):
    """The partitions of a payload's runs (gap, count, entries…); the caller
    reads each partition's entry before asking for the next."""
    nxt = 0
    while ints.more():
        gap, count = ints.unsigned(), ints.unsigned()
        p = nxt + gap
        for _ in range(count):
            yield p
            p += 1
        nxt = p


# ---------------------------------------------------------------- shared


def id_report(ids, expected):
    counts = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    dups = sorted(i for i, c in counts.items() if c > 1)
    res = {
        "rows": len(ids),
        "distinct_ids": len(counts),
        "duplicate_count": len(dups),
        "duplicates": [[i, counts[i]] for i in dups[:SAMPLE]],
    }
    if expected is not None:
        exp = set(expected)
        missing = sorted(exp.difference(counts))
        unexpected = sorted(set(counts).difference(exp))
        res.update({
            "missing_count": len(missing),
            "missing": missing[:SAMPLE],
            "unexpected_count": len(unexpected),
            "unexpected": unexpected[:SAMPLE],
        })
    return res


def coverage_columns(req):
    """The columns offset coverage reads: [topic_column,] partition_column,
    offset_column; None without the last two."""
    pcol, ocol = req.get("partition_column"), req.get("offset_column")
    if not (pcol and ocol):
        return None
    return ([req["topic_column"]] if req.get("topic_column") else []) + [pcol, ocol]


def coverage_report(rows, req):
    """Offset coverage of rows read from coverage_columns: {"partitions": ...}
    of (partition, offset) rows, or, with topic_column, {"topic_partitions":
    {topic: ...}} of (topic, partition, offset) rows: partitions of several
    topics share numbers, so they are told apart by topic first."""
    if not req.get("topic_column"):
        return {"partitions": coverage(rows)}
    by_topic = {}
    for topic, p, o in rows:
        by_topic.setdefault(topic, []).append((p, o))
    return {"topic_partitions": {topic: coverage(pairs) for topic, pairs in by_topic.items()}}


def coverage(pairs):
    """Per Kafka partition: rows, distinct offsets, min and max offset."""
    parts = {}
    for p, o in pairs:
        parts.setdefault(p, []).append(o)
    out = {}
    for p, offs in parts.items():
        out[str(p)] = {"rows": len(offs), "distinct": len(set(offs)), "min": min(offs), "max": max(offs)}
    return out


def decimal_str(d):
    return None if d is None else format(Decimal(d).quantize(Decimal("0.01")), "f")


def ts_str(ts):
    """An aware or naive-UTC datetime as RFC 3339 UTC with microseconds."""
    if ts is None:
        return None
    if ts.tzinfo is not None:
        from datetime import timezone
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


if __name__ == "__main__":
    main()
