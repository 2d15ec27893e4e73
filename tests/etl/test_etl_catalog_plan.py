"""The catalog's decisions as pure functions: which columns a run adds to a table, and which
changes it refuses (the same check runs before the first row and before the table is updated)."""

from __future__ import annotations

from typing import Any

import pytest

from etl.catalog import PARQUET_SERDE, CatalogError, GlueColumn, columns_of_manifest, plan_columns


def table(
    *columns: tuple[str, str], keys: Any = None, serde: str = PARQUET_SERDE
) -> dict[str, Any]:
    return {
        "DatabaseName": "hybrid_prod_hq",
        "Name": "orders",
        "PartitionKeys": [{"Name": "run", "Type": "string"}] if keys is None else keys,
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in columns],
            "SerdeInfo": {"SerializationLibrary": serde},
        },
    }


def run(*columns: tuple[str, str]) -> list[GlueColumn]:
    return [GlueColumn(n, t, "") for n, t in columns]


def test_new_columns_are_added_and_order_does_not_matter() -> None:
    t = table(("id", "int"), ("total", "decimal(10,2)"))
    assert plan_columns(t, run(("total", "decimal(10,2)"), ("id", "int"))) == []
    added = plan_columns(t, run(("id", "int"), ("total", "decimal(10,2)"), ("note", "string")))
    assert [c.name for c in added] == ["note"]
    # Glue keeps names lowercase; a table written by hand with capitals still matches.
    assert plan_columns(table(("ID", "int")), run(("id", "int"))) == []


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ([("id", "int")], "'total' (decimal(10,2)) is missing from the result"),
        ([("id", "bigint"), ("total", "decimal(10,2)")], "'id' changed type from int to bigint"),
        ([("id", "int"), ("total", "decimal(12,2)")], "from decimal(10,2) to decimal(12,2)"),
    ],
)
def test_incompatible_changes_are_refused(result: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(CatalogError) as info:
        plan_columns(table(("id", "int"), ("total", "decimal(10,2)")), run(*result))
    assert message in str(info.value)
    assert "hybrid_prod_hq.orders" in str(info.value)
    assert info.value.exit_code == 5


@pytest.mark.parametrize(
    ("keys", "serde", "message"),
    [
        ([], PARQUET_SERDE, "partitioned by nothing"),
        ([{"Name": "dt", "Type": "string"}], PARQUET_SERDE, "partitioned by [('dt', 'string')]"),
        (None, "org.apache.hadoop.hive.serde2.OpenCSVSerde", "its SerDe is"),
    ],
)
def test_a_table_that_is_not_the_etls_is_left_alone(keys: Any, serde: str, message: str) -> None:
    with pytest.raises(CatalogError, match="is not an ETL table") as info:
        plan_columns(table(("id", "int"), keys=keys, serde=serde), run(("id", "int")))
    assert message in str(info.value)


def test_manifest_columns_become_glue_columns() -> None:
    entries = [
        {"name": "Id", "glue_type": "int", "source_type": "INT", "arrow_type": "int32"},
        {
            "name": "t",
            "glue_type": "bigint",
            "source_type": "TIME(3)",
            "arrow_type": "duration[ms]",
        },
    ]
    assert columns_of_manifest(entries) == [
        GlueColumn("id", "int", "INT"),
        GlueColumn("t", "bigint", "TIME(3) as a count of milliseconds"),
    ]
