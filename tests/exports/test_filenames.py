from datetime import UTC, datetime

import pytest

from broadsheet.exports.filenames import content_disposition

AT = datetime(2024, 2, 1, 14, 0, tzinfo=UTC)


def test_the_usual_name() -> None:
    header = content_disposition("Monthly Performance Report", AT, "America/New_York", "xlsx")
    assert header == 'attachment; filename="monthly-performance-report_2024-02-01_0900.xlsx"'


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", 'a"b;c', "报告 2024", "\x00\r\n", "", "C:\\Windows\\system32", "..."],
)
def test_hostile_names_are_safe_and_not_empty(name: str) -> None:
    header = content_disposition(name, AT, "UTC", "csv")
    plain = header.split('filename="', 1)[1].split('"', 1)[0]
    assert plain.endswith("_2024-02-01_1400.csv") and len(plain) > len("_2024-02-01_1400.csv")
    for bad in ("/", "\\", '"', ";", "\r", "\n", "\x00", ".."):
        assert bad not in plain
    assert header.count('"') == 2  # nothing in the name closes the quoted string early
    assert "\r" not in header and "\n" not in header


def test_non_ascii_names_use_rfc_6266() -> None:
    header = content_disposition("报告 2024", AT, "Asia/Shanghai", "pdf")
    assert 'filename="2024_2024-02-01_2200.pdf"' in header
    assert "filename*=UTF-8''%E6%8A%A5%E5%91%8A-2024_2024-02-01_2200.pdf" in header
    accented = content_disposition("Rapport trimestriel — Été", AT, "UTC", "pdf")
    assert 'filename="rapport-trimestriel-ete_2024-02-01_1400.pdf"' in accented
    assert "filename*=UTF-8''rapport-trimestriel-%C3%A9t%C3%A9_2024-02-01_1400.pdf" in accented
