"""Checking visualization mappings: on save (``required_columns``) and against a result's
columns (``check_columns``). Every error must name the field the API will report."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadsheet.charts import CHART_TYPES, MappingError, check_columns, required_columns
from broadsheet.charts.mapping import VISUALIZATION_TYPES

COLUMNS = ["date", "strategy", "return"]


def error_of(viz_type: str, data_mapping: Any) -> MappingError:
    with pytest.raises(MappingError) as caught:
        required_columns(viz_type, data_mapping)
    return caught.value


def test_the_registry_and_the_mapping_know_the_same_seven_types() -> None:
    expected = {"table", "bar", "line", "pie", "scatter", "heatmap", "candlestick"}
    assert CHART_TYPES == VISUALIZATION_TYPES == expected


@pytest.mark.parametrize(
    ("viz_type", "data_mapping", "columns"),
    [
        ("table", {}, []),
        ("table", {"columns": ["b", "a", "b"]}, ["b", "a"]),
        ("bar", {"series": "s", "y": "v", "x": "d"}, ["d", "v", "s"]),
        ("line", {"x": "date", "y": "return"}, ["date", "return"]),
        ("pie", {"category": "c", "value": "v"}, ["c", "v"]),
        ("pie", {"x": "c", "y": "v"}, ["c", "v"]),
        ("scatter", {"x": "a", "y": "b", "series": "c", "size": "d"}, ["a", "b", "c", "d"]),
        ("heatmap", {"x": "a", "y": "b", "value": "a"}, ["a", "b"]),
        (
            "candlestick",
            {"close": "c", "x": "t", "open": "o", "high": "h", "low": "l"},
            ["t", "o", "h", "l", "c"],
        ),
    ],
)
def test_required_columns_in_role_order_each_once(
    viz_type: str, data_mapping: dict[str, Any], columns: list[str]
) -> None:
    assert required_columns(viz_type, data_mapping) == columns


@pytest.mark.parametrize(
    ("viz_type", "data_mapping", "field"),
    [
        ("line", {"x": "date"}, "dataMapping.y"),
        ("bar", {"y": "v"}, "dataMapping.x"),
        ("pie", {"value": "v"}, "dataMapping.category"),
        ("heatmap", {"x": "a", "y": "b"}, "dataMapping.value"),
        ("candlestick", {"x": "t", "open": "o", "high": "h", "close": "c"}, "dataMapping.low"),
    ],
)
def test_a_missing_key_is_named(viz_type: str, data_mapping: dict[str, Any], field: str) -> None:
    error = error_of(viz_type, data_mapping)
    assert error.field == field
    assert field in error.message


def test_a_misspelt_key_is_named_with_the_allowed_keys() -> None:
    error = error_of("line", {"x": "date", "y": "return", "serie": "strategy"})
    assert error.field == "dataMapping.serie"
    assert "x, y, series" in error.message
    assert str(error) == error.message
    assert isinstance(error, ValueError)


def test_pie_lists_its_aliases_and_refuses_a_role_named_twice() -> None:
    assert "category, value (or x, y" in error_of("pie", {"label": "c"}).message
    error = error_of("pie", {"category": "c", "x": "d", "value": "v"})
    assert error.field == "dataMapping.x"


@pytest.mark.parametrize("value", [3, "", "  ", None, ["a"]])
def test_a_value_that_is_not_a_column_name_is_named(value: Any) -> None:
    error = error_of("bar", {"x": "d", "y": value})
    assert error.field == "dataMapping.y"
    assert "non-empty string" in error.message


@pytest.mark.parametrize(
    ("data_mapping", "field"),
    [
        ({"columns": "a"}, "dataMapping.columns"),
        ({"columns": []}, "dataMapping.columns"),
        ({"columns": ["a", 7]}, "dataMapping.columns[1]"),
        ({"x": "a"}, "dataMapping.x"),
    ],
)
def test_table_columns_must_be_a_list_of_names(data_mapping: dict[str, Any], field: str) -> None:
    assert error_of("table", data_mapping).field == field


def test_an_unknown_type_or_a_mapping_that_is_not_an_object() -> None:
    error = error_of("donut", {"x": "a"})
    assert error.field == "type"
    assert "bar, candlestick, heatmap, line, pie, scatter, table" in error.message
    assert error_of("bar", ["x", "y"]).field == "dataMapping"


def test_check_columns_names_the_first_missing_column() -> None:
    viz = {"type": "line", "dataMapping": {"x": "date", "y": "retrun", "series": "strat"}}
    with pytest.raises(MappingError) as caught:
        check_columns(viz, COLUMNS)
    assert caught.value.field == "dataMapping.y"
    assert caught.value.message == (
        "no column 'retrun' in the query's result; columns are: date, strategy, return"
    )


def test_check_columns_uses_the_key_as_written() -> None:
    with pytest.raises(MappingError) as caught:
        check_columns({"type": "pie", "dataMapping": {"x": "Date", "y": "return"}}, COLUMNS)
    assert caught.value.field == "dataMapping.x"
    with pytest.raises(MappingError) as caught:
        check_columns({"type": "table", "dataMapping": {"columns": ["date", "ret"]}}, COLUMNS)
    assert caught.value.field == "dataMapping.columns[1]"


def test_check_columns_accepts_a_fitting_mapping_and_a_table_without_one() -> None:
    check_columns({"type": "line", "dataMapping": {"x": "date", "y": "return"}}, COLUMNS)
    check_columns({"type": "table"}, COLUMNS)
    with pytest.raises(MappingError) as caught:
        check_columns({"type": "bar"}, COLUMNS)
    assert caught.value.field == "dataMapping"


@given(
    st.dictionaries(
        st.sampled_from(["x", "y", "series", "color", "size", "value", "category"]),
        st.text(min_size=1, max_size=5).filter(str.strip),
    ),
    st.sampled_from(sorted(VISUALIZATION_TYPES - {"table"})),
)
def test_columns_are_the_mapping_values_each_once_or_a_named_error(
    data_mapping: dict[str, str], viz_type: str
) -> None:
    try:
        columns = required_columns(viz_type, data_mapping)
    except MappingError as caught:
        error = caught
    else:
        assert len(columns) == len(set(columns))
        assert set(columns) == set(data_mapping.values())
        return
    assert error.field.startswith("dataMapping.")
