"""Arrow record batches from the store, streamed to the client as JSON, CSV or Parquet bytes.

Each batch is encoded and sent as it arrives, so the memory a response needs is one batch whatever
the size of the download. Times are UTC: ISO 8601 with a `Z` in JSON and CSV (seconds, or
microseconds when there are any), a UTC timestamp in Parquet. In CSV a list (flags) is joined with
`;`, a missing value is an empty field; in JSON it is `null` (so are NaN and infinities, which JSON
cannot carry).
"""
from __future__ import annotations

import csv
import io
import json
import math
from typing import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi.responses import StreamingResponse

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}


def iso_time_array(column: pa.Array) -> pa.Array:
    """Naive-UTC timestamps -> ISO 8601 strings with Z, in Arrow compute (about 0.5 µs a value)."""
    column = column.cast(pa.timestamp("us"))
    whole = pc.replace_substring(column.cast(pa.timestamp("s"), safe=False).cast(pa.string()), " ", "T")
    out = pc.binary_join_element_wise(whole, "Z", "")
    fractional = pc.not_equal(pc.subsecond(column), 0)
    if pc.any(fractional).as_py():
        precise = pc.replace_substring(column.cast(pa.string()), " ", "T")
        out = pc.if_else(fractional, pc.binary_join_element_wise(precise, "Z", ""), out)
    return out


def iso_times(column: pa.Array) -> list[str | None]:
    return iso_time_array(column).to_pylist()


def _finite(values: list) -> list:
    return [v if v is None or math.isfinite(v) else None for v in values]


def _python_column(column: pa.Array) -> list:
    """A column as Python values ready for JSON or CSV (times as strings)."""
    if pa.types.is_timestamp(column.type):
        return iso_times(column)
    if pa.types.is_floating(column.type):
        return _finite(column.to_pylist())
    return column.to_pylist()


class _JsonCache(dict):
    """json.dumps memoised per value: device ids, quantities and flag lists repeat in every row."""

    def __missing__(self, key):
        value = json.dumps(list(key) if isinstance(key, tuple) else key, ensure_ascii=False)
        self[key] = value
        return value


def _json_encoder(field: pa.Field) -> Callable[[list], list[str]]:
    t = field.type
    if pa.types.is_timestamp(t):
        return lambda xs: ["null" if x is None else '"' + x + '"' for x in xs]
    if pa.types.is_floating(t):
        return lambda xs: ["null" if x is None else repr(x) for x in xs]
    if pa.types.is_integer(t):
        return lambda xs: ["null" if x is None else str(x) for x in xs]
    cache = _JsonCache()
    if pa.types.is_list(t):
        return lambda xs: [cache[tuple(x) if x is not None else None] for x in xs]
    return lambda xs: [cache[x] for x in xs]


_NEEDS_JSON_ESCAPE = r'["\\\x00-\x1f]'


def _quoted(strings: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise('"', strings, '"', "")


def _json_arrow_column(column: pa.Array) -> pa.Array | None:
    """The column as JSON text per value in Arrow compute, or None when Python must do it (strings
    that need escaping)."""
    t = column.type
    if pa.types.is_timestamp(t):
        text = _quoted(iso_time_array(column))
    elif pa.types.is_floating(t):
        finite = pc.is_finite(column)
        text = pc.if_else(finite, column.cast(pa.string()), pa.scalar(None, pa.string()))
    elif pa.types.is_integer(t):
        text = column.cast(pa.string())
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        if pc.any(pc.match_substring_regex(column, _NEEDS_JSON_ESCAPE)).as_py():
            return None
        text = _quoted(column)
    elif pa.types.is_list(t) and pa.types.is_string(t.value_type):
        if pc.any(pc.match_substring_regex(pc.list_flatten(column), _NEEDS_JSON_ESCAPE)).as_py():
            return None
        inner = pc.if_else(pc.greater(pc.list_value_length(column), 0),
                           _quoted(pc.binary_join(column, '","')), "")
        text = pc.binary_join_element_wise("[", inner, "]", "")
    else:
        return None
    return pc.fill_null(text, "null")


def json_stream(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """`[{...},{...}]`, one object per row, keys in column order.

    Rows are assembled in Arrow compute (about 1 µs a row); a column whose strings need JSON
    escaping falls back to json.dumps for that batch.
    """
    encoders = [_json_encoder(f) for f in schema]
    keys = [json.dumps(f.name) for f in schema]
    template = "{" + ",".join(k + ":%s" for k in keys) + "}"
    yield b"["
    first = True
    for batch in batches:
        columns = [_json_arrow_column(batch.column(i)) for i in range(batch.num_columns)]
        if all(c is not None for c in columns):
            parts = []
            for i, (key, column) in enumerate(zip(keys, columns)):
                parts += [("{" if i == 0 else ",") + key + ":", column]
            rows = pc.binary_join_element_wise(*parts, "}", "")
            text = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(rows)], pa.int32()), rows), ",")[0].as_py()
        else:
            python_columns = [enc(_python_column(batch.column(i))) for i, enc in enumerate(encoders)]
            text = ",".join(template % row for row in zip(*python_columns))
        yield (text if first else "," + text).encode()
        first = False
    yield b"]"


def _csv_column(column: pa.Array) -> list:
    values = _python_column(column)
    if pa.types.is_list(column.type):
        return ["" if v is None else ";".join(v) for v in values]
    return values


def _csv_arrow_table(batch: pa.RecordBatch) -> pa.Table:
    """The batch with CSV-ready columns: ISO times, `;`-joined lists, NaN and infinities as empty."""
    columns = []
    for field, column in zip(batch.schema, batch.columns):
        if pa.types.is_timestamp(field.type):
            column = iso_time_array(column)
        elif pa.types.is_list(field.type):
            column = pc.binary_join(column, ";")
        elif pa.types.is_floating(field.type):
            column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, field.type))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=batch.schema.names)


_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none", eol="\r\n")


def csv_stream(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """RFC 4180: a header line with the column names, then one CRLF-ended line per row.

    Arrow's CSV writer does the work (about 1 µs a row); a batch holding a value that needs quotes
    (a comma, a quote or a line break in a string) goes through Python's csv module instead, which
    quotes just those fields.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # also quotes a bare CR in a field
    writer.writerow(schema.names)
    yield buf.getvalue().encode()
    for batch in batches:
        out = io.BytesIO()
        try:
            pacsv.write_csv(_csv_arrow_table(batch), out, _CSV_OPTIONS)
            yield out.getvalue()
            continue
        except pa.ArrowInvalid:
            pass
        buf.seek(0)
        buf.truncate()
        writer.writerows(zip(*(_csv_column(batch.column(i)) for i in range(batch.num_columns))))
        yield buf.getvalue().encode()


class _ChunkSink:
    """A write-only file for pyarrow that hands back what was written since the last `take()`."""

    def __init__(self):
        self._parts: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data) -> int:
        data = bytes(data)
        self._parts.append(data)
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def parquet_schema(schema: pa.Schema) -> pa.Schema:
    """Timestamps become timezone-aware UTC so readers do not take them for local times."""
    return pa.schema(
        [pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f for f in schema]
    )


def parquet_stream(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """One Parquet row group per batch, sent as soon as it is written; the footer comes last."""
    out_schema = parquet_schema(schema)
    sink = _ChunkSink()
    writer = pq.ParquetWriter(sink, out_schema, compression="zstd")
    try:
        for batch in batches:
            writer.write_batch(batch.cast(out_schema))
            chunk = sink.take()
            if chunk:
                yield chunk
    finally:
        writer.close()
    yield sink.take()


STREAMS = {"json": json_stream, "csv": csv_stream, "parquet": parquet_stream}


def streaming_response(reader: pa.RecordBatchReader, fmt: str, filename: str) -> StreamingResponse:
    headers = {}
    if fmt != "json":
        headers["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return StreamingResponse(STREAMS[fmt](reader.schema, reader), media_type=MEDIA_TYPES[fmt], headers=headers)
