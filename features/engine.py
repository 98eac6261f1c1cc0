"""The one place that knows DuckDB from Spark: connecting, reading files and frames, parsing dates, naming read
errors, writing results, and the few functions whose spelling differs by engine. Everything else builds portable
Ibis expressions over a connection it is given.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import uuid
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from features.config import SAMPLE_DIGITS
from features.errors import InputError

ENGINES = ("duckdb", "spark")
DEFAULT_ENGINE = "duckdb"
SPILL_PREFIX = "clv-duckdb-"
# Local Spark when no master is configured (spark-submit, SPARK_REMOTE and --spark-conf spark.master all win).
SPARK_LOCAL_MASTER = "local[*]"
SPARK_DEFAULTS = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
}
# Only for a local master: a laptop-sized session that binds loopback and keeps the driver big enough to hold
# the customer-level frames LightGBM trains on.
SPARK_LOCAL_DEFAULTS = {
    "spark.driver.memory": "8g",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "8",
}
# strftime directive -> Spark datetime pattern letter (single letters parse unpadded values too).
_SPARK_PATTERN = {"Y": "yyyy", "m": "M", "d": "d", "H": "H", "M": "m", "S": "s", "y": "yy", "b": "MMM", "B": "MMMM"}
_SPARK_PADDED = {"m": "MM", "d": "dd", "H": "HH", "M": "mm", "S": "ss"}


@dataclass(frozen=True)
class EngineConfig:
    """Which engine runs the feature expressions, and its settings."""

    name: str = DEFAULT_ENGINE
    memory_limit: str | None = None  # DuckDB only: above it work spills to disk
    spark_conf: tuple[tuple[str, str], ...] = ()  # --spark-conf key=value, applied last

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise InputError(f"--engine {self.name!r} is not known: choose one of {', '.join(ENGINES)}")
        if self.memory_limit and self.name != "duckdb":
            raise InputError("--memory-limit is for DuckDB; give Spark memory with --spark-conf spark.driver.memory=8g")
        if self.spark_conf and self.name != "spark":
            raise InputError("--spark-conf needs --engine spark")


def parse_spark_conf(pairs: list[str] | None) -> tuple[tuple[str, str], ...]:
    """``key=value`` options as pairs; an item without ``=`` is an input error naming it."""
    out = []
    for item in pairs or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--spark-conf {item!r}: write it as key=value, e.g. spark.driver.memory=8g")
        out.append((key.strip(), value.strip()))
    return tuple(out)


def connect(config: EngineConfig | None = None) -> ibis.BaseBackend:
    """A connection for one command on the configured engine."""
    config = config or EngineConfig()
    if config.name == "spark":
        return connect_spark(config.spark_conf)
    return connect_duckdb(config.memory_limit)


def connect_duckdb(memory_limit: str | None = None) -> ibis.BaseBackend:
    """An embedded DuckDB for one command: spills go to a private temporary directory removed with the connection
    (not ``.tmp`` in the working directory), above ``memory_limit`` (e.g. ``4GB``; DuckDB's default: 80 % of RAM).
    Under a limit, :func:`materialise` keeps intermediate tables on disk too. Row order is not kept between
    operators (every output is ordered explicitly), which saves sorting work."""
    spill = tempfile.mkdtemp(prefix=SPILL_PREFIX)
    settings = {"temp_directory": spill, "preserve_insertion_order": False}
    if memory_limit:
        settings["memory_limit"] = memory_limit
    try:
        con = ibis.duckdb.connect(**settings)
    except duckdb.Error as exc:
        shutil.rmtree(spill, ignore_errors=True)
        raise InputError(f"memory limit {memory_limit!r} is not understood: write it like 4GB or 500MB") from exc
    weakref.finalize(con, shutil.rmtree, spill, True)
    con.clv_tables_on_disk = bool(memory_limit)  # read by materialise()
    return con


def connect_spark(conf: tuple[tuple[str, str], ...] = ()) -> ibis.BaseBackend:
    """Ibis over a SparkSession: the active one when there is one (a notebook, spark-submit), else a new one.

    ``SPARK_REMOTE`` (Spark Connect) and a master given by spark-submit or ``--spark-conf spark.master=...`` are
    honoured; with none, Spark runs locally on every core. Arrow transfers are on.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(
            "--engine spark needs PySpark: install the extra, e.g. pip install 'customer-value[spark]'"
        ) from None
    given = dict(conf)
    session = SparkSession.getActiveSession()
    if session is None:
        builder = SparkSession.builder.appName("clv")
        remote = os.environ.get("SPARK_REMOTE")
        settings = dict(SPARK_DEFAULTS)
        submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # started by spark-submit, which set the master
        if not remote and not submitted and "spark.master" not in given:
            builder = builder.master(SPARK_LOCAL_MASTER)
        if not remote and not submitted and given.get("spark.master", SPARK_LOCAL_MASTER).startswith("local"):
            settings |= SPARK_LOCAL_DEFAULTS
            # Local Python workers run this interpreter (its packages), not whatever ``python3`` is on the PATH.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        for key, value in (settings | given).items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        if not remote:
            # Failures reach the user as one message (InputError or "internal error"); the executor's own log
            # lines would repeat them with Java stacks.
            local = session.sparkContext.master.startswith("local")
            session.sparkContext.setLogLevel("FATAL" if local else "ERROR")
    else:
        for key, value in (SPARK_DEFAULTS | given).items():
            with contextlib.suppress(Exception):  # static settings of a running session cannot change
                session.conf.set(key, value)
    # Said once per failed Arrow transfer, before the error itself is raised and reported.
    warnings.filterwarnings("ignore", message="toPandas attempted Arrow optimization", category=UserWarning)
    return ibis.pyspark.connect(session)


def engine_of(obj: ir.Expr | ibis.BaseBackend) -> str:
    """``duckdb`` or ``spark`` for a connection or an expression bound to one."""
    con = obj if isinstance(obj, ibis.BaseBackend) else obj._find_backend(use_default=True)
    return "spark" if con.name == "pyspark" else con.name


def read_errors() -> tuple[type[BaseException], ...]:
    """Exceptions an engine raises for a file or value it cannot read (mapped to :class:`InputError`)."""
    kinds: list[type[BaseException]] = [duckdb.Error]
    with contextlib.suppress(ImportError):
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        kinds += [PySparkException, Py4JJavaError]
    return tuple(kinds)


def read_error_detail(exc: BaseException) -> str:
    """The part of an engine's read error a user can act on: DuckDB's first lines; for Spark the innermost cause
    (``Malformed CSV record: ...``), without the Java stack, error class or SQLSTATE."""
    text = str(exc).strip()
    causes = [line.strip() for line in text.splitlines() if line.strip().startswith("Caused by:")]
    if causes:
        cause = causes[-1].removeprefix("Caused by:").strip()
        cause = re.sub(r"^[\w.$]+(Exception|Error): ", "", cause)  # the Java class name
        cause = re.sub(r"^\[[A-Z_.]+\] ", "", cause)  # Spark's error class
        return re.sub(r"\s*SQLSTATE: \w+\.?$", "", cause).strip() or type(exc).__name__
    if hasattr(exc, "getMessage") or text.startswith("["):  # a Spark analysis error
        first = re.sub(r"^\[[A-Z_.]+\] ", "", text.splitlines()[0])
        return re.sub(r"\s*SQLSTATE: \w+\.?$", "", first).strip()
    lines = []
    for line in text.splitlines():
        if line.startswith(("Possible fixes", "LINE ")):
            break
        if line.strip():
            lines.append(line.strip())
    return "; ".join(lines[:3]) if lines else type(exc).__name__


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean a memory limit was reached (not bad input, not a bug)."""
    return (MemoryError, duckdb.OutOfMemoryException)


def scan_files(
    con: ibis.BaseBackend, files: list[str], fmt: str, delim: str = ",", names: list[str] | None = None
) -> ir.Table:
    """Files of one format as a table: Parquet as stored, CSV strictly (the given header, every value as text,
    quotes doubled to escape, a ragged or malformed line an error rather than a guess)."""
    if engine_of(con) == "spark":
        return _scan_spark(con, files, fmt, delim, names or [])
    if fmt == "parquet":
        return con.read_parquet(files)
    return con.read_csv(
        files,
        auto_detect=False,
        header=True,
        delim=delim,
        quote='"',
        escape='"',
        columns={name: "VARCHAR" for name in names or []},
    )


def _scan_spark(con, files: list[str], fmt: str, delim: str, names: list[str]) -> ir.Table:
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    session = con._session
    if fmt == "parquet":
        nanos = _nanosecond_columns(files)
        if nanos:  # Spark refuses TIMESTAMP(NANOS) unless told to read it as a long
            session.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
        frame = session.read.parquet(*files)
        for name in nanos:
            frame = frame.withColumn(name, F.timestamp_micros(F.expr(f"`{name}` div 1000")))
    else:
        schema = StructType([StructField(n, StringType()) for n in names])
        frame = session.read.csv(
            files,
            schema=schema,
            header=True,
            sep=delim,
            quote='"',
            escape='"',
            mode="FAILFAST",
            encoding="UTF-8",
            enforceSchema=True,
        )
    return _register(con, frame)


def _nanosecond_columns(files: list[str]) -> list[str]:
    """Timestamp columns stored with nanoseconds in the first local Parquet file (pandas writes those)."""
    if urlparse(files[0]).scheme not in ("", "file"):
        return []
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(files[0])
    except (OSError, pa.ArrowException):
        return []
    return [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]


def is_remote(path) -> bool:
    """A URI with a scheme other than ``file`` (an object store or HDFS), which only Spark reads."""
    return isinstance(path, str) and urlparse(path).scheme not in ("", "file") and "://" in path


def first_line(con: ibis.BaseBackend, path: str) -> str:
    """The first line of a (remote) text file, read by Spark."""
    row = con._session.read.text(path).limit(1).collect()
    return row[0][0].lstrip("\ufeff") if row else ""


def _register(con, frame) -> ir.Table:
    name = f"clv_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(name)
    return con.table(name)


def frame_table(con: ibis.BaseBackend, frame: pd.DataFrame | pa.Table) -> ir.Table:
    """An in-memory frame as a table of the connection (a temporary table on DuckDB, a temporary view on Spark)."""
    if engine_of(con) == "spark":
        data = frame.to_pandas() if isinstance(frame, pa.Table) else frame
        return _register(con, con._session.createDataFrame(data))
    return con.create_table(f"transactions_{uuid.uuid4().hex}", frame, temp=True)


@ibis.udf.scalar.builtin(name="try_strptime")
def _duckdb_try_strptime(text: str, fmt: str) -> dt.datetime:  # type: ignore[empty-body]
    """DuckDB's ``try_strptime``: NULL where the text does not match the format."""


@ibis.udf.scalar.builtin(name="try_to_timestamp")
def _spark_try_to_timestamp(text: str, fmt: str) -> dt.datetime:  # type: ignore[empty-body]
    """Spark's ``try_to_timestamp``: NULL where the text does not match the pattern."""


def spark_pattern(fmt: str) -> str:
    """A strftime format as a Spark datetime pattern: ``%d/%m/%Y %H:%M`` -> ``d/M/yyyy H:m``; fields with no
    separator between them keep their fixed width (``%Y%m%d`` -> ``yyyyMMdd``); other text is quoted."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            if code not in _SPARK_PATTERN:
                raise InputError(f"date format {fmt!r}: %{code} is not supported on Spark")
            adjacent = fmt[i + 2 : i + 3] == "%" or (i > 0 and fmt[i - 2 : i - 1] == "%" and fmt[i - 1] != "%")
            out.append(_SPARK_PADDED.get(code, _SPARK_PATTERN[code]) if adjacent else _SPARK_PATTERN[code])
            i += 2
        else:
            j = i
            while j < len(fmt) and fmt[j] != "%":
                j += 1
            literal = fmt[i:j]
            out.append(literal if all(not c.isalpha() for c in literal) else "'" + literal.replace("'", "''") + "'")
            i = j
    return "".join(out)


def parse_timestamp(text: ir.StringValue, fmt: str) -> ir.TimestampValue:
    """``text`` parsed with a strftime format; NULL where it does not match, on every engine."""
    if engine_of(text) == "spark":
        return _spark_try_to_timestamp(text, spark_pattern(fmt))
    return _duckdb_try_strptime(text, fmt)


@ibis.udf.scalar.builtin(name="hash")
def _duckdb_hash(value) -> idt.uint64:  # type: ignore[empty-body]
    """DuckDB's 64-bit ``hash`` as it is (Ibis' ``.hash()`` adds a reinterpreting cast that doubles its cost)."""


@ibis.udf.scalar.builtin(name="xxhash64")
def _spark_xxhash64(value) -> idt.int64:  # type: ignore[empty-body]
    """Spark's 64-bit ``xxhash64`` (its ``hash`` has 32 bits)."""


def hash64(value: ir.Value) -> ir.IntegerValue:
    """A 64-bit hash of a value (a struct of columns too), for telling rows apart within one engine run."""
    return _spark_xxhash64(value) if engine_of(value) == "spark" else _duckdb_hash(value)


@ibis.udf.agg.builtin(name="arg_min")
def _duckdb_arg_min(arg: float, key: dt.date) -> float:  # type: ignore[empty-body]
    """DuckDB's ``arg_min``: the value of ``arg`` on the row with the smallest ``key``."""


def arg_min(value: ir.Value, key: ir.Value, where: ir.BooleanValue | None) -> ir.Value:
    """``value`` on the row with the smallest ``key``. Ibis compiles its portable arg-min to an ordered FIRST on
    DuckDB, about 10 % slower there than DuckDB's own ``arg_min``, so DuckDB gets that; other engines the portable
    one."""
    if engine_of(value) == "duckdb":
        return _duckdb_arg_min(value, key, where=where)
    return value.argmin(key, where=where)


def sample_bucket(ids: ir.Value, share: float) -> ir.BooleanValue:
    """True for about ``share`` of the ids, the same ids on every engine: the first hex digits of the md5 digest of
    the id as text, compared as text (fixed width, so text order is number order)."""
    buckets = 16**SAMPLE_DIGITS
    bound = min(buckets, int(round(share * buckets)))
    if bound >= buckets:
        return ibis.literal(True)
    digest = ids.cast("string").hexdigest("md5").lower().substr(0, SAMPLE_DIGITS)
    return digest < f"{bound:0{SAMPLE_DIGITS}x}"


def strip(text: ir.StringValue) -> ir.StringValue:
    """Surrounding whitespace removed. On Spark Ibis' ``strip`` compiles ``\\v`` and ``\\f`` into a literal
    Spark reads as the letters v and f, which it would then cut from the ends of ids and numbers (``"inf"``)."""
    if engine_of(text) == "spark":
        return text.re_replace(r"^\s+|\s+$", "")
    return text.strip()


# A decimal number as DuckDB reads one; Java's parser behind Spark's cast also takes "7f" and "7d" (float suffixes).
_NUMBER = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$"


def to_number(text: ir.StringValue) -> ir.FloatingValue:
    """Text (already stripped) as float64; NULL where it is not a number, the same texts on every engine."""
    number = text.try_cast("float64")
    if engine_of(text) == "spark":
        return ibis.ifelse(text.re_search(_NUMBER), number, ibis.null("float64"))
    return number


def is_infinite(value: ir.NumericValue) -> ir.BooleanValue:
    """Portable infinity check (Spark compiles ``isinf`` of some types to FALSE)."""
    return value.abs() == float("inf")


def materialise(table: ir.Table) -> ir.Table:
    """Compute ``table`` once for several readers: in the engine's memory, or on a DuckDB connection from
    :func:`connect_duckdb` with a memory limit as Parquet in its private temporary directory (compressed, read back
    lazily: the periods of 10 M customers would otherwise take most of a 4 GB limit)."""
    con = table._find_backend()
    if not getattr(con, "clv_tables_on_disk", False):
        return table.cache()
    folder = con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0]
    fd, path = tempfile.mkstemp(suffix=".parquet", dir=folder)
    os.close(fd)
    table.to_parquet(path)
    return con.read_parquet(path)


def keep_row_order(con: ibis.BaseBackend) -> None:
    """Make row numbers follow the file (DuckDB drops insertion order for speed; Spark keeps a file's order)."""
    if engine_of(con) == "duckdb":
        con.raw_sql("SET preserve_insertion_order = true")


def read_output(con: ibis.BaseBackend, path: str | Path) -> ir.Table:
    """A lazy view of an output this engine wrote (a file, or Spark's directory of part files)."""
    path = str(path)
    csv = path.lower().rstrip("/").endswith(".csv")
    if engine_of(con) == "spark":
        reader = con._session.read
        frame = reader.csv(path, header=True, inferSchema=True) if csv else reader.parquet(path)
        return _register(con, frame)
    reader = ibis.duckdb.connect()
    return reader.read_csv(path) if csv else reader.read_parquet(path)


def spark_frame(table: ir.Table):
    """The Spark DataFrame behind an Ibis expression on Spark."""
    con = table._find_backend()
    return con._session.sql(con.compile(table))


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to: on success it replaces ``path`` with ordinary permissions, on
    any failure (an interrupt too) it is removed, so readers never see a half-written file and nothing is left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a finished output gets ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(table: pa.Table | ir.Table, path: str | Path) -> str | Path:
    """Write an Arrow table or a lazy expression as Parquet or CSV (by extension) so that readers never see a
    half-written output and a failure leaves nothing. DuckDB streams one file; Spark writes a directory of part
    files (the output's name is then a directory), to a temporary name renamed into place."""
    if isinstance(table, ir.Table) and engine_of(table) == "spark":
        return _write_spark(spark_frame(table), str(path))
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    csv = str(path).lower().endswith(".csv")
    with atomic_file(path) as tmp:
        if isinstance(table, pa.Table):
            (pacsv.write_csv if csv else pq.write_table)(table, tmp)
        elif csv:
            table.to_csv(tmp)
        else:
            table.to_parquet(tmp)
    return path


def write_spark_frame(frame, path: str | Path) -> str:
    """A Spark DataFrame as a Parquet or CSV directory at ``path`` (temporary name, then renamed)."""
    return _write_spark(frame, str(path))


def _write_spark(frame, path: str) -> str:
    """Write to a hidden sibling directory, then swap it in through Hadoop's file system (local paths and object
    stores alike); on any failure the sibling is deleted and whatever was at ``path`` is untouched."""
    session = frame.sparkSession
    parent, _, name = path.rstrip("/").rpartition("/")
    tmp = f"{parent or '.'}/.{name}.{uuid.uuid4().hex}.tmp"
    writer = frame.write.mode("errorifexists")
    if path.lower().endswith(".csv"):
        writer = writer.option("header", "true")
        save = writer.csv
    else:
        save = writer.parquet
    fs, jpath = _hadoop_path(session, tmp)
    try:
        save(tmp)
        _hadoop_replace(session, tmp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.delete(jpath, True)
        raise
    return path


def _hadoop_path(session, path: str):
    jvm = session.sparkContext._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(session.sparkContext._jsc.hadoopConfiguration()), jpath


def _hadoop_replace(session, tmp: str, path: str) -> None:
    fs, src = _hadoop_path(session, tmp)
    _, dst = _hadoop_path(session, path)
    old = None
    if fs.exists(dst):
        _, old = _hadoop_path(session, f"{tmp}.old")
        if not fs.rename(dst, old):
            raise OSError(f"cannot move the existing {path} aside")
    if not fs.rename(src, dst):
        if old is not None:
            fs.rename(old, dst)
        raise OSError(f"cannot rename the finished output into {path}")
    if old is not None:
        fs.delete(old, True)
