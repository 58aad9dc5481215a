"""``?format=`` → exporter. Built-ins register here the way a plugin would."""

from __future__ import annotations

from broadsheet.exports import csv, excel, json, parquet, pdf
from broadsheet.exports.base import Exporter

EXPORTERS: dict[str, Exporter] = {
    exporter.name: exporter
    for exporter in (
        pdf.EXPORTER,
        excel.EXPORTER,
        csv.EXPORTER,
        json.JSON,
        json.NDJSON,
        parquet.EXPORTER,
    )
}
FORMATS = tuple(EXPORTERS)
