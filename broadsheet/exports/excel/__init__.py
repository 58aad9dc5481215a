"""Excel (.xlsx) export: the result's rows, what they are, and its charts, in one workbook.

Sheets, in order: "Data" (then "Data (2)"… past Excel's 1,048,576 rows a sheet) with every
row as typed cells — see ``cells`` for how each type is written and why text can never
become a formula — then "Report" (report, parameters, time, row count, summary) and, when
the result has visualizations, "Charts" and "Chart data".

The writer is XlsxWriter in constant_memory mode, with the data rows encoded in Arrow rather
than written a cell at a time (``cells``, ``rows``): ``bench/excel_writers.py``
measured the candidates, and this is the one combination that is fast enough (13x
``pandas.to_excel``: 4.8 s for 1,000,000 rows of six columns), streams in bounded memory
(256 MB peak there), and can also draw native charts on one sheet from data on another.
Rows are read batch by batch from ``rows.batches()``; nothing holds the whole result.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO

from broadsheet.exports.base import ExportContext, Progress, RowSource
from broadsheet.exports.excel.book import Styles, new_workbook
from broadsheet.exports.excel.charts import write_charts
from broadsheet.exports.excel.data import write_data
from broadsheet.exports.excel.report import write_report
from broadsheet.exports.excel.rows import discard

_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ExcelExporter:
    name = "excel"
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    extension = "xlsx"

    def write(self, ctx: ExportContext, rows: RowSource, out: BinaryIO, progress: Progress) -> None:
        """Write the workbook to ``out``; ``progress`` is called with the rows written so
        far after each batch. On an error nothing is written to ``out``."""
        book = new_workbook(out, ctx.scratch_dir)
        try:
            _fill(book, ctx, rows, progress)
        except BaseException:
            discard(book)
            raise
        book.close()


def _fill(book: Any, ctx: ExportContext, rows: RowSource, progress: Progress) -> None:
    styles = Styles.of(book)
    taken: set[str] = set()
    book.set_properties(
        {
            "title": _NOT_IN_XML.sub("", ctx.report_name),
            "comments": f"Broadsheet result {ctx.result_id}",
        }
    )
    data = write_data(book, styles, ctx, rows, progress, taken)
    write_report(book, styles, ctx, data, taken)
    write_charts(book, styles, ctx, taken)


EXPORTER = ExcelExporter()
