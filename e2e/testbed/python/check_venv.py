"""Sanity check of the test-bed venv: imports and OFFLINE DuckDB extensions.

The DuckDB extensions come from the duckdb-extension-* wheels; they are
installed from the local wheel files into a throw-away extension directory,
so nothing is downloaded.
"""
import tempfile

import duckdb
import duckdb_extensions
import pyarrow
import pyiceberg
import sqlalchemy  # noqa: F401  (pyiceberg[sql-sqlite])
import psycopg2  # noqa: F401  (pyiceberg[sql-postgres])
import boto3  # noqa: F401  (also pyiceberg[glue])
import thrift  # noqa: F401  (pyiceberg[hive])
import matplotlib  # noqa: F401  (e2e/benchlongrun/chart.py)
import adlfs  # noqa: F401  (PyIceberg and DuckDB read abfs:// through it)


def main() -> None:
    with tempfile.TemporaryDirectory() as ext_dir:
        con = duckdb.connect(
            config={
                "extension_directory": ext_dir,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            }
        )
        for name in ("avro", "httpfs", "iceberg"):
            duckdb_extensions.import_extension(name, con=con)
            con.sql(f"LOAD {name}")
        loaded = {
            r[0]
            for r in con.sql(
                "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
            ).fetchall()
        }
        missing = {"avro", "httpfs", "iceberg"} - loaded
        if missing:
            raise SystemExit(f"duckdb extensions not loaded: {missing}")
        con.close()
    print(
        f"venv ok: pyiceberg {pyiceberg.__version__}, duckdb {duckdb.__version__}, "
        f"pyarrow {pyarrow.__version__}, extensions avro/httpfs/iceberg load offline"
    )


if __name__ == "__main__":
    main()
