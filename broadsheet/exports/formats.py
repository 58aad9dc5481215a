"""The export formats by name, as one type: the API's ``format`` query parameter and a
schedule's ``exportFormat`` list them in ``/openapi.json``. The registry holds exactly these."""

from __future__ import annotations

from typing import Literal, get_args

ExportFormat = Literal["pdf", "excel", "csv", "json", "ndjson", "parquet"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
