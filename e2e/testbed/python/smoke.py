"""End-to-end smoke check of a running floe e2e test bed (run by verify.sh).

Reads the E2E_* variables written by up.sh and checks each service with an
independent client:
  * Kafka: Metadata + ApiVersions (KIP-848 served) over the wire; the
    secured listeners: SASL_SSL (test CA, SASL PLAIN, 60 s session lifetime)
    and mTLS (client.pem accepted; no, expired or other-CA certificate refused).
  * REST (file://) and REST (S3): PyIceberg creates a namespace and a
    format-v2 table, appends rows, reads them back; DuckDB (offline
    extensions) reads the same snapshot with iceberg_scan.
  * S3: the data and metadata objects of the S3 table are listed with boto3.
  * PostgreSQL: psycopg2 connects; a PyIceberg SQL catalog on it round-trips
    a table.
Everything it creates is dropped again (namespaces get a unique suffix).
"""
import os
import subprocess
import sys
import tempfile
import uuid

import boto3
import duckdb
import duckdb_extensions
import psycopg2
import pyarrow as pa
from botocore.config import Config
from pyiceberg.catalog import load_catalog

E = os.environ
HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = pa.table(
    {"id": pa.array([1, 2, 3], pa.int64()), "name": pa.array(["a", "b", "c"], pa.string())}
)


def s3_props() -> dict:
    return {
        "s3.endpoint": E["E2E_S3_ENDPOINT"],
        "s3.access-key-id": E["E2E_S3_ACCESS_KEY"],
        "s3.secret-access-key": E["E2E_S3_SECRET_KEY"],
        "s3.region": E["E2E_S3_REGION"],
        "s3.path-style-access": "true",
    }


def duck() -> duckdb.DuckDBPyConnection:
    ext_dir = tempfile.mkdtemp(prefix="duckdb-ext-")
    con = duckdb.connect(
        config={"extension_directory": ext_dir, "autoinstall_known_extensions": False}
    )
    for name in ("avro", "httpfs", "iceberg"):
        duckdb_extensions.import_extension(name, con=con)
        con.sql(f"LOAD {name}")
    endpoint = E["E2E_S3_ENDPOINT"].split("://", 1)[1]
    con.sql(
        f"""CREATE SECRET s3 (TYPE s3, KEY_ID '{E["E2E_S3_ACCESS_KEY"]}',
        SECRET '{E["E2E_S3_SECRET_KEY"]}', REGION '{E["E2E_S3_REGION"]}',
        ENDPOINT '{endpoint}', URL_STYLE 'path', USE_SSL false)"""
    )
    return con


def roundtrip(cat, label: str) -> str:
    ns = f"smoke_{uuid.uuid4().hex[:8]}"
    cat.create_namespace(ns)
    try:
        tbl = cat.create_table(
            f"{ns}.t", schema=ROWS.schema, properties={"format-version": "2"}
        )
        tbl.append(ROWS)
        tbl = cat.load_table(f"{ns}.t")
        got = tbl.scan().to_arrow().sort_by("id")
        assert got.equals(ROWS), f"{label}: pyiceberg read back {got}"
        snap = tbl.current_snapshot()
        assert snap is not None and snap.summary["added-records"] == "3", snap
        n = duck().sql(
            f"SELECT count(*), sum(id) FROM iceberg_scan('{tbl.metadata_location}')"
        ).fetchone()
        assert n == (3, 6), f"{label}: duckdb read {n}"
        print(f"ok   {label}: table {ns}.t at {tbl.location()} (pyiceberg + duckdb read 3 rows)")
        return tbl.location()
    finally:
        for ident in cat.list_tables(ns):
            cat.purge_table(ident)
        cat.drop_namespace(ns)


def check_kafka() -> None:
    host, port = E["E2E_KAFKA"].rsplit(":", 1)
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "kafka_probe.py"), host, port, "--kip848"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, f"kafka probe: {out.stdout} {out.stderr}"
    print(f"ok   kafka {E['E2E_KAFKA']}: {out.stdout.split()}")


def _probe(addr: str, *args: str) -> subprocess.CompletedProcess:
    host, port = addr.rsplit(":", 1)
    return subprocess.run(
        [sys.executable, os.path.join(HERE, "kafka_probe.py"), host, port, *args],
        capture_output=True,
        text=True,
        check=False,
    )


def check_kafka_secured() -> None:
    tls = E["E2E_KAFKA_TLS_DIR"]
    ca = os.path.join(tls, "ca.pem")
    user = f"{E['E2E_KAFKA_PLAIN_USER']}:{E['E2E_KAFKA_PLAIN_PASSWORD']}"
    out = _probe(E["E2E_KAFKA_SASL_SSL"], "--tls-ca", ca, "--sasl-plain", user)
    assert out.returncode == 0, f"SASL_SSL PLAIN probe: {out.stdout} {out.stderr}"
    assert "sasl_lifetime_ms=60000" in out.stdout, f"SASL_SSL session lifetime: {out.stdout}"
    print(f"ok   kafka SASL_SSL {E['E2E_KAFKA_SASL_SSL']} (TLS, PLAIN): {out.stdout.split()}")
    cert = ["--tls-cert", os.path.join(tls, "client.pem"), "--tls-key", os.path.join(tls, "client-key.pem")]
    out = _probe(E["E2E_KAFKA_MTLS"], "--tls-ca", ca, *cert)
    assert out.returncode == 0, f"mTLS probe: {out.stdout} {out.stderr}"
    for name, extra in [
        ("no client certificate", []),
        (
            "expired client certificate",
            ["--tls-cert", os.path.join(tls, "expired-client.pem"), "--tls-key", os.path.join(tls, "expired-client-key.pem")],
        ),
        (
            "client certificate of another CA",
            ["--tls-cert", os.path.join(tls, "other-client.pem"), "--tls-key", os.path.join(tls, "other-client-key.pem")],
        ),
    ]:
        bad = _probe(E["E2E_KAFKA_MTLS"], "--tls-ca", ca, *extra)
        assert bad.returncode != 0, f"mTLS with {name} was accepted: {bad.stdout}"
    print(f"ok   kafka mTLS {E['E2E_KAFKA_MTLS']}: {out.stdout.split()}; refused without a valid client certificate")


def check_rest_file() -> None:
    cat = load_catalog("rest_file", type="rest", uri=E["E2E_REST_FILE_URI"])
    loc = roundtrip(cat, f"rest-file {E['E2E_REST_FILE_URI']}")
    assert loc.startswith(E["E2E_REST_FILE_WAREHOUSE"]), loc


def check_rest_s3() -> None:
    cat = load_catalog("rest_s3", type="rest", uri=E["E2E_REST_S3_URI"], **s3_props())
    ns = f"smoke_{uuid.uuid4().hex[:8]}"
    cat.create_namespace(ns)
    s3 = boto3.client(
        "s3",
        endpoint_url=E["E2E_S3_ENDPOINT"],
        aws_access_key_id=E["E2E_S3_ACCESS_KEY"],
        aws_secret_access_key=E["E2E_S3_SECRET_KEY"],
        region_name=E["E2E_S3_REGION"],
        config=Config(s3={"addressing_style": "path"}),
    )
    try:
        tbl = cat.create_table(f"{ns}.t", schema=ROWS.schema, properties={"format-version": "2"})
        assert tbl.location().startswith(E["E2E_REST_S3_WAREHOUSE"]), tbl.location()
        tbl.append(ROWS)
        tbl = cat.load_table(f"{ns}.t")
        got = tbl.scan().to_arrow().sort_by("id")
        assert got.equals(ROWS), got
        n = duck().sql(
            f"SELECT count(*), sum(id) FROM iceberg_scan('{tbl.metadata_location}')"
        ).fetchone()
        assert n == (3, 6), n
        prefix = tbl.location().split(f"s3://{E['E2E_S3_BUCKET']}/", 1)[1]
        keys = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=E["E2E_S3_BUCKET"], Prefix=prefix).get("Contents", [])
        ]
        assert any(k.endswith(".parquet") for k in keys), keys
        assert any(k.endswith(".metadata.json") for k in keys), keys
        print(
            f"ok   rest-s3 {E['E2E_REST_S3_URI']}: table {ns}.t at {tbl.location()} "
            f"({len(keys)} objects in S3; pyiceberg + duckdb read 3 rows)"
        )
    finally:
        for ident in cat.list_tables(ns):
            cat.purge_table(ident)
        cat.drop_namespace(ns)


def check_postgres() -> None:
    dsn = E["E2E_PG_DSN"]
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_user, version()")
        db, user, version = cur.fetchone()
    assert (db, user) == ("floe_catalog", "floe"), (db, user)
    with tempfile.TemporaryDirectory() as wh:
        cat = load_catalog(
            "pg_smoke",
            type="sql",
            uri=dsn.replace("postgres://", "postgresql+psycopg2://", 1),
            warehouse=f"file://{wh}",
        )
        roundtrip(cat, "postgres sql-catalog")
    print(f"ok   postgres: {version.split(',')[0]}")


def main() -> int:
    checks = [check_kafka, check_kafka_secured, check_rest_file, check_rest_s3, check_postgres]
    failed = 0
    for check in checks:
        try:
            check()
        except Exception as e:  # noqa: BLE001 - report every failing service
            failed += 1
            print(f"FAIL {check.__name__}: {type(e).__name__}: {e}")
    print(f"smoke: {len(checks) - failed} ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
