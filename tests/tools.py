"""The programs people open our files with (LibreOffice, qpdf, poppler's pdftotext and
pdffonts, jq, xmllint), for tests that read exports back the way users do.

`.ci/run` installs them from Debian's packages; a test that needs one skips when it is
missing, and fails instead under ``BROADSHEET_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import service_missing

# The Debian package that brings each program, for the message when one is missing.
PACKAGES = {
    "soffice": "libreoffice-calc-nogui",
    "qpdf": "qpdf",
    "pdftotext": "poppler-utils",
    "pdffonts": "poppler-utils",
    "pdftoppm": "poppler-utils",
    "jq": "jq",
    "xmllint": "libxml2-utils",
}


def tool(name: str) -> str:
    """The path of program ``name``; skips (or fails under CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        service_missing(f"{name} (Debian package {PACKAGES.get(name, name)})")
        raise AssertionError("unreachable")  # service_missing skips or fails
    return path


def run(name: str, *args: str | Path, stdin: bytes | None = None, timeout: float = 120) -> str:
    """Run program ``name`` with ``args`` and return its standard output as text; a non-zero
    exit fails the test with the program's own message."""
    done = subprocess.run(
        [tool(name), *map(str, args)], input=stdin, capture_output=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{name} exited {done.returncode}: {done.stderr.decode(errors='replace')}"
    )
    return done.stdout.decode(errors="replace")


def libreoffice_csv(workbook: Path, sheet: int, out_dir: Path) -> str:
    """Sheet ``sheet`` (1-based) of ``workbook`` as LibreOffice Calc reads it, saved as CSV
    (UTF-8, comma, every text quoted) — what a user would see in each cell."""
    profile = out_dir / "lo-profile"
    run(
        "soffice",
        f"-env:UserInstallation=file://{profile}",
        "--headless",
        "--convert-to",
        f"csv:Text - txt - csv (StarCalc):44,34,76,1,,0,true,true,false,false,false,{sheet}",
        "--outdir",
        out_dir,
        workbook,
        timeout=180,
    )
    made = out_dir / f"{workbook.stem}-{_sheet_name(workbook, sheet)}.csv"
    if not made.exists():
        made = out_dir / f"{workbook.stem}.csv"
    return made.read_text(encoding="utf-8")


def _sheet_name(workbook: Path, sheet: int) -> str:
    from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]

    book = load_workbook(workbook, read_only=True)
    try:
        return str(book.sheetnames[sheet - 1])
    finally:
        book.close()
