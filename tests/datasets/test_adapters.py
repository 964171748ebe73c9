"""Adapters for the public data sets: tiny synthetic sources (row by row) and the real files."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.datasets.base import DatasetFiles, DatasetMissingError, source_schema
from portrait.datasets.cdnow import cdnow_transactions
from portrait.datasets.registry import (
    DATASETS,
    DatasetSpec,
    convert_dataset,
    default_data_root,
    locate_source,
)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _read(files: list[Path], kind: str) -> list[dict]:
    assert len(files) == 1
    table = pq.read_table(files[0])
    assert table.schema == source_schema(kind), f"{kind} file is not canonical"
    return table.to_pylist()


def _by(rows: list[dict], key: str) -> dict[str, dict]:
    out = {r[key]: r for r in rows}
    assert len(out) == len(rows), f"duplicate {key}"
    return out


def _props(row: dict) -> dict | None:
    return None if row["properties"] is None else json.loads(row["properties"])


# --------------------------------------------------------------------------------------------
# Synthetic sources
# --------------------------------------------------------------------------------------------


def _make_online_retail(root: Path) -> Path:
    rows = [
        # Invoice, StockCode, Description, Quantity, InvoiceDate, Price, Customer ID, Country
        ("489434", "85048", "GLASS BALL", 12, "2010-07-01 12:00:00", 6.95, 13085.0, "UK"),
        ("489434", "POST", "POSTAGE", 1, "2010-07-01 12:01:00", 18.0, 13085.0, "UK"),
        ("C489449", "85048", "GLASS BALL", -2, "2010-01-05 10:00:00", 6.95, 13085.0, "UK"),
        ("489500", "22041", "RECORD FRAME", 3, "2010-01-06 09:30:00", 2.1, None, "UK"),
        ("A506401", "B", "Adjust bad debt", 1, "2010-04-29 13:36:00", -53594.36, None, "UK"),
        ("489501", "22041", None, -5, "2010-02-01 08:00:00", 0.0, None, "UK"),
        ("489502", "85048", "XMAS GLASS BALL", 1, "2009-12-01 07:45:00", 7.5, 12346.0, "France"),
    ]
    names = [
        "Invoice",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "Price",
        "Customer ID",
        "Country",
    ]
    types = [pa.string(), pa.string(), pa.string(), pa.int64()]
    types += [pa.string(), pa.float64(), pa.float64(), pa.string()]
    cols = list(zip(*rows, strict=True))
    table = pa.table({n: pa.array(c, type=t) for n, c, t in zip(names, cols, types, strict=True)})
    path = root / "online_retail_ii" / "online_retail_II_2009-2010.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def test_online_retail_synthetic_row_by_row(tmp_path: Path) -> None:
    _make_online_retail(tmp_path / "data")
    out = convert_dataset("online-retail-ii", tmp_path / "out", path=tmp_path / "data")
    assert isinstance(out, DatasetFiles)
    assert out.name == "online-retail-ii"
    assert out.notes
    events = _by(_read(out.events, "events"), "event_id")
    assert len(events) == 7 + 5  # 7 lines + a payment per non-cancelled invoice

    e = events["oretail:489434:1"]
    assert (e["type"], e["user_id"], e["anonymous_id"]) == ("order", "13085", None)
    assert (e["product_id"], e["quantity"], e["price"], e["order_id"]) == (
        "85048",
        12,
        6.95,
        "489434",
    )
    assert e["ts"] == _utc(2010, 7, 1, 11, 0)  # BST -> UTC
    assert e["properties"] is None

    e = events["oretail:489434:2"]  # postage line, a minute later: one basket time
    assert e["ts"] == _utc(2010, 7, 1, 11, 0)
    assert _props(e) == {"non_product": True}

    e = events["oretail:C489449:3"]
    assert (e["type"], e["quantity"], e["price"], e["order_id"]) == ("refund", 2, 6.95, "C489449")
    assert _props(e) == {"cancellation": True, "invoice": "C489449"}
    assert e["ts"] == _utc(2010, 1, 5, 10, 0)  # GMT in winter
    assert e["user_id"] == "13085"

    e = events["oretail:489500:4"]
    assert (e["user_id"], e["anonymous_id"], e["type"]) == (None, "guest:489500", "order")

    e = events["oretail:A506401:5"]  # negative price kept for the ingest to quarantine
    assert (e["type"], e["price"], e["anonymous_id"]) == ("order", -53594.36, "guest:A506401")
    assert _props(e) == {"non_product": True}

    e = events["oretail:489501:6"]  # stock adjustment: stays an order with negative quantity
    assert (e["type"], e["quantity"], e["price"]) == ("order", -5, 0.0)

    pay = {k: v for k, v in events.items() if v["type"] == "payment"}
    assert set(pay) == {
        f"oretail:{i}:payment" for i in ("489434", "489500", "A506401", "489501", "489502")
    }
    p = pay["oretail:489434:payment"]
    assert p["price"] == pytest.approx(12 * 6.95 + 18.0)
    assert (p["order_id"], p["user_id"], p["ts"]) == ("489434", "13085", _utc(2010, 7, 1, 11))
    assert pay["oretail:489500:payment"]["anonymous_id"] == "guest:489500"
    assert pay["oretail:A506401:payment"]["price"] == pytest.approx(-53594.36)

    users = _by(_read(out.users, "users"), "user_id")
    assert set(users) == {"13085", "12346"}
    assert users["13085"]["country"] == "UK"
    assert users["13085"]["registered_at"] == _utc(2010, 1, 5, 10, 0)
    assert users["12346"]["country"] == "France"
    assert users["12346"]["attributes"] is None

    products = _by(_read(out.products, "products"), "product_id")
    assert set(products) == {"85048", "POST", "22041", "B"}
    glass = products["85048"]
    assert glass["title"] == "GLASS BALL"  # most frequent description
    assert glass["price"] == pytest.approx(6.95)  # median of 6.95, 6.95, 7.5
    assert glass["launched_at"] == _utc(2009, 12, 1, 7, 45)
    assert glass["category_l1"] is None
    assert glass["attributes"] is None
    assert json.loads(products["POST"]["attributes"]) == {"non_product": True}
    assert json.loads(products["B"]["attributes"]) == {"non_product": True}
    assert products["B"]["price"] is None  # no line with a positive price
    assert products["22041"]["price"] == pytest.approx(2.1)  # the 0.0 line is left out


def _make_ta_feng(root: Path) -> Path:
    text = (
        "\ufeff"
        '"TRANSACTION_DT","CUSTOMER_ID","AGE_GROUP","PIN_CODE","PRODUCT_SUBCLASS","PRODUCT_ID",'
        '"AMOUNT","ASSET","SALES_PRICE"\n'
        '"11/1/2000","01104905","45-49","115","110411","4710199010372","2","24","30"\n'
        '"11/1/2000","01104905","45-49","115","100407","0004710043654","1","142","166"\n'
        '"1/15/2001","01104905","45-49","115","110411","4710199010372","1","12","15"\n'
        '"11/2/2000","00418683","","Unknown","120107","4710857472535","3","48","60"\n'
    )
    path = root / "ta_feng" / "ta_feng_all_months_merged.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


def test_ta_feng_synthetic_row_by_row(tmp_path: Path) -> None:
    _make_ta_feng(tmp_path / "data")
    out = convert_dataset("ta-feng", tmp_path / "out", path=tmp_path / "data" / "ta_feng")
    events = _by(_read(out.events, "events"), "event_id")
    assert len(events) == 4 + 3

    e = events["tafeng:01104905-20001101:1"]
    assert (e["type"], e["user_id"], e["product_id"]) == ("order", "01104905", "4710199010372")
    assert (e["quantity"], e["price"], e["order_id"]) == (2, 15.0, "01104905-20001101")
    assert e["ts"] == _utc(2000, 10, 31, 16, 0)  # midnight Asia/Taipei
    assert _props(e) == {"asset": 24.0, "sales_price": 30.0, "product_subclass": "110411"}
    e = events["tafeng:01104905-20001101:2"]
    assert (e["product_id"], e["price"]) == ("0004710043654", 166.0)
    e = events["tafeng:01104905-20010115:3"]
    assert e["ts"] == _utc(2001, 1, 14, 16, 0)
    e = events["tafeng:00418683-20001102:4"]
    assert (e["quantity"], e["price"]) == (3, pytest.approx(20.0))

    p = events["tafeng:01104905-20001101:payment"]
    assert (p["type"], p["price"], p["user_id"]) == ("payment", 196.0, "01104905")
    assert events["tafeng:01104905-20010115:payment"]["price"] == 15.0
    assert events["tafeng:00418683-20001102:payment"]["price"] == 60.0

    users = _by(_read(out.users, "users"), "user_id")
    assert set(users) == {"01104905", "00418683"}
    u = users["01104905"]
    assert (u["country"], u["region"], u["registered_at"]) == ("TW", "115", None)
    assert json.loads(u["attributes"]) == {"age_group": "45-49", "pin_code": "115"}
    u = users["00418683"]
    assert json.loads(u["attributes"]) == {"age_group": None, "pin_code": "Unknown"}

    products = _by(_read(out.products, "products"), "product_id")
    assert set(products) == {"4710199010372", "0004710043654", "4710857472535"}
    assert products["4710199010372"]["category_l1"] == "110411"
    assert products["4710199010372"]["price"] == 15.0
    assert products["4710857472535"]["price"] == pytest.approx(20.0)


SAMPLE_CDNOW = (
    " 00004 0001 19970101  2   29.33\r\n"
    " 00004 0001 19970101  1   10.00\r\n"
    " 00004 0001 19970118  2   29.73\r\n"
    " 00021 0002 19970101  0   0.00\r\n"
)
MASTER_CDNOW = (
    " customer_id  date number_of_cds  dollar_value\r\n"
    " 00001 19970101  1   11.77\r\n"
    " 00002 19970112  1   12.00\r\n"
    " 00002 19970112  5   77.00\r\n"
)


def _make_cdnow(root: Path) -> Path:
    folder = root / "cdnow"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "CDNOW_sample.txt").write_text(SAMPLE_CDNOW, newline="")
    (folder / "CDNOW_master.txt").write_text(MASTER_CDNOW, newline="")
    return folder


def test_cdnow_sample_synthetic_row_by_row(tmp_path: Path) -> None:
    _make_cdnow(tmp_path / "data")
    out = convert_dataset("cdnow", tmp_path / "out", path=tmp_path / "data")
    assert out.products == []
    events = _by(_read(out.events, "events"), "event_id")
    assert len(events) == 4 * 2

    e = events["cdnow:00004-19970101-1"]
    assert (e["type"], e["user_id"], e["product_id"]) == ("order", "00004", None)
    assert (e["quantity"], e["price"]) == (2, pytest.approx(14.665))
    assert e["order_id"] == "00004-19970101-1"
    assert e["ts"] == _utc(1997, 1, 1, 5, 0)  # midnight America/New_York
    e = events["cdnow:00004-19970101-2"]  # second purchase the same day: its own order
    assert (e["quantity"], e["price"]) == (1, 10.0)
    e = events["cdnow:00004-19970118-1"]
    assert e["price"] == pytest.approx(14.865)
    e = events["cdnow:00021-19970101-1"]  # zero CDs: kept, price = dollar_value
    assert (e["quantity"], e["price"]) == (0, 0.0)
    p = events["cdnow:00004-19970101-1:payment"]
    assert (p["type"], p["price"], p["order_id"]) == ("payment", 29.33, "00004-19970101-1")

    users = _by(_read(out.users, "users"), "user_id")
    assert set(users) == {"00004", "00021"}
    assert users["00004"]["registered_at"] == _utc(1997, 1, 1, 5, 0)
    assert json.loads(users["00004"]["attributes"]) == {"sample_id": "0001"}
    assert json.loads(users["00021"]["attributes"]) == {"sample_id": "0002"}


def test_cdnow_master_synthetic_and_transactions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _make_cdnow(data)
    out = convert_dataset("cdnow", tmp_path / "out", path=data, full=True)
    events = _by(_read(out.events, "events"), "event_id")
    assert set(events) == {
        "cdnow:00001-19970101-1",
        "cdnow:00001-19970101-1:payment",
        "cdnow:00002-19970112-1",
        "cdnow:00002-19970112-1:payment",
        "cdnow:00002-19970112-2",
        "cdnow:00002-19970112-2:payment",
    }
    assert events["cdnow:00002-19970112-2"]["price"] == pytest.approx(15.4)
    users = _by(_read(out.users, "users"), "user_id")
    assert set(users) == {"00001", "00002"}
    assert users["00001"]["attributes"] is None

    df = cdnow_transactions(data)  # the sample by default
    assert list(df.columns) == ["customer_id", "date", "number_of_cds", "dollar_value"]
    assert df["customer_id"].tolist() == ["00004", "00004", "00004", "00021"]
    assert df["number_of_cds"].tolist() == [2, 1, 2, 0]
    assert df["dollar_value"].tolist() == [29.33, 10.0, 29.73, 0.0]
    assert str(df["date"].iloc[2].date()) == "1997-01-18"
    full = cdnow_transactions(data / "cdnow" / "CDNOW_master.txt")
    assert full["customer_id"].tolist() == ["00001", "00002", "00002"]
    assert len(cdnow_transactions(data, full=True)) == 3


def _make_reviews(root: Path) -> Path:
    text = 'cat,label,review\n书籍,1,\ufeff好书\n水果,0,\n酒店,1,"含,逗号 ""引号"""\n'
    path = root / "reviews_zh" / "online_shopping_10_cats.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


def test_reviews_zh_synthetic_row_by_row(tmp_path: Path) -> None:
    source = _make_reviews(tmp_path / "data")
    out = convert_dataset("reviews_zh", tmp_path / "out", path=source)  # a file path works too
    events = _read(out.events, "events")
    assert [e["event_id"] for e in events] == ["rzh:1", "rzh:2", "rzh:3"]
    e = events[0]
    assert (e["type"], e["user_id"], e["product_id"]) == ("review", "rzh-u1", "rzh-cat:书籍")
    assert e["text"] == "好书"  # leading BOM stripped
    assert e["rating"] is None
    assert e["ts"] == _utc(2020, 1, 1)
    assert _props(e) == {"label": 1, "category": "书籍", "ts_synthetic": True}
    assert events[1]["text"] is None  # empty review kept
    assert _props(events[1])["label"] == 0
    assert events[2]["text"] == '含,逗号 "引号"'

    users = _read(out.users, "users")
    assert [u["user_id"] for u in users] == ["rzh-u1", "rzh-u2", "rzh-u3"]
    products = _by(_read(out.products, "products"), "product_id")
    assert set(products) == {"rzh-cat:书籍", "rzh-cat:水果", "rzh-cat:酒店"}
    assert products["rzh-cat:水果"]["title"] == "水果"
    assert products["rzh-cat:水果"]["category_l1"] == "水果"


def test_conversion_is_deterministic(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _make_online_retail(data)
    _make_ta_feng(data)
    for name in ("online-retail-ii", "ta-feng"):
        a = convert_dataset(name, tmp_path / "a", path=data)
        b = convert_dataset(name, tmp_path / "b", path=data)
        for pa_, pb in zip(
            a.events + a.users + a.products, b.events + b.users + b.products, strict=True
        ):
            assert pq.read_table(pa_).equals(pq.read_table(pb))


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def test_registry_lists_the_four_data_sets() -> None:
    assert set(DATASETS) == {"online-retail-ii", "ta-feng", "cdnow", "reviews-zh"}
    for name, spec in DATASETS.items():
        assert isinstance(spec, DatasetSpec)
        assert spec.name == name
        assert spec.folder and spec.files and spec.description and callable(spec.convert)
    assert DATASETS["cdnow"].files_for(full=True) == ("CDNOW_master.txt",)


def test_missing_files_raise_with_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetMissingError) as err:
        convert_dataset("ta-feng", tmp_path / "out", path=tmp_path / "nowhere")
    msg = str(err.value)
    assert str(tmp_path / "nowhere" / "ta_feng" / "ta_feng_all_months_merged.csv.gz") in msg
    assert "--path" in msg and "PORTRAIT_DATA" in msg
    assert isinstance(err.value, FileNotFoundError)

    monkeypatch.setenv("PORTRAIT_DATA", str(tmp_path / "empty-root"))
    with pytest.raises(DatasetMissingError) as err:
        convert_dataset("cdnow", tmp_path / "out", full=True)
    assert str(tmp_path / "empty-root" / "cdnow" / "CDNOW_master.txt") in str(err.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unknown_name_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(KeyError) as err:
        convert_dataset("amazon-reviews", tmp_path)
    assert isinstance(err.value, ValueError)
    for name in DATASETS:
        assert name in str(err.value)


def test_default_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PORTRAIT_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("PORTRAIT_DATA")
    root = default_data_root()
    assert (root.parent.name, root.name) == ("shared", "data")
    # Found from this file's location even when the working directory is elsewhere.
    monkeypatch.chdir(tmp_path)
    assert default_data_root() == root


# --------------------------------------------------------------------------------------------
# Real data sets (../shared/data or $PORTRAIT_DATA); skipped when absent
# --------------------------------------------------------------------------------------------


def _real_source(name: str, full: bool = False) -> Path:
    try:
        return locate_source(name, full=full)
    except DatasetMissingError:
        spec = DATASETS[name]
        path = default_data_root() / spec.folder / spec.files_for(full)[0]
        pytest.skip(f"{name} not found at {path}: put the data set there or set PORTRAIT_DATA")


def _count(files: list[Path], where: str = "true") -> int:
    paths = ", ".join(f"'{p}'" for p in files)
    return duckdb.sql(f"SELECT count(*) FROM read_parquet([{paths}]) WHERE {where}").fetchall()[0][
        0
    ]


@pytest.mark.realdata
@pytest.mark.slow
def test_real_online_retail(tmp_path: Path) -> None:
    source = _real_source("online-retail-ii")
    out = convert_dataset("online-retail-ii", tmp_path, path=source)
    raw = duckdb.sql(
        f"""SELECT count(*), count(DISTINCT "Customer ID"),
                   count(*) FILTER (WHERE Invoice LIKE 'C%'),
                   count(*) FILTER (WHERE Price < 0),
                   count(DISTINCT Invoice) FILTER (WHERE Invoice NOT LIKE 'C%')
            FROM read_parquet('{source}')"""
    ).fetchall()[0]
    n_lines, n_customers, n_cancel, n_neg_price, n_invoices = raw
    assert n_lines == 525_461
    assert _count(out.events, "type IN ('order', 'refund')") == n_lines  # 0 lost
    assert _count(out.events, "type = 'refund'") == n_cancel
    assert _count(out.events, "type = 'payment'") == n_invoices
    assert _count(out.users) == n_customers
    assert n_neg_price > 0
    assert _count(out.events, "price < 0 AND type = 'order'") == n_neg_price  # kept for quarantine
    ids = duckdb.sql(
        f"SELECT count(DISTINCT event_id), count(*) FROM '{out.events[0]}'"
    ).fetchall()[0]
    assert ids[0] == ids[1]
    assert _count(out.users, "user_id LIKE '%.0'") == 0


@pytest.mark.realdata
@pytest.mark.slow
def test_real_ta_feng(tmp_path: Path) -> None:
    source = _real_source("ta-feng")
    out = convert_dataset("ta-feng", tmp_path, path=source)
    assert _count(out.events, "type = 'order'") == 817_741
    assert _count(out.users) == 32_266
    assert _count(out.products) == 23_812
    assert _count(out.users, "json_exists(attributes, '$.age_group')") == 32_266
    assert _count(out.users, "attributes->>'age_group' = '35-39'") > 0
    assert _count(out.users, "length(user_id) = 8") == 32_266  # zero-padded ids kept
    assert _count(out.users, "user_id LIKE '0%'") > 0
    assert _count(out.products, "product_id LIKE '00%'") > 0


@pytest.mark.realdata
def test_real_cdnow(tmp_path: Path) -> None:
    source = _real_source("cdnow")
    out = convert_dataset("cdnow", tmp_path / "sample", path=source)
    assert _count(out.users) == 2_357
    assert _count(out.events, "type = 'order'") == 6_919
    assert _count(out.users, "user_id = '00004'") == 1
    df = cdnow_transactions(source)
    assert len(df) == 6_919 and df["customer_id"].nunique() == 2_357

    master = _real_source("cdnow", full=True)
    full = convert_dataset("cdnow", tmp_path / "full", path=master.parent, full=True)
    assert _count(full.users) == 23_570
    assert _count(full.events, "type = 'order'") == 69_659


@pytest.mark.realdata
def test_real_reviews_zh(tmp_path: Path) -> None:
    source = _real_source("reviews-zh")
    out = convert_dataset("reviews-zh", tmp_path, path=source)
    assert _count(out.events, "type = 'review'") == 62_774
    assert _count(out.users) == 62_774
    assert _count(out.products) == 10
    assert _count(out.events, "starts_with(text, chr(65279))") == 0
