"""The masks every surface uses for roles without ``pii:read`` (portrait.security.masking)."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from portrait.security import masking


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        ("phone", "13812344357", "138****4357"),
        ("phone", "138-1234-4357", "138****4357"),
        ("phone", "12345", "****"),
        ("email", "alice@qq.com", "a***@qq.com"),
        ("email", "not-an-address", "n***"),
        ("name", "张三", "张*"),
        ("name", "欧阳娜娜", "欧***"),
        ("name", "John", "J***"),
        ("date", date(1990, 5, 17), "1990-**-**"),
        ("date", "1990-05-17", "1990-**-**"),
        ("date", "17/05/1990", "****-**-**"),
        ("text", "上海市徐汇区", "上***"),
        ("address", "bob@example.com", "b***@example.com"),
        ("address", "+86 138 1234 4357", "+86****4357"),
        ("phone", None, None),
    ],
)
def test_each_kind_keeps_only_what_the_issue_allows(kind, value, masked):
    assert masking.mask(kind, value) == masked


def test_a_pii_tag_is_masked_like_its_users_column_or_by_its_type():
    assert masking.tag_kind("birth_date", "date") == "date"
    assert masking.tag_kind("phone", "text") == "phone"
    assert masking.tag_kind("home_address", "text") == "text"


def test_tables_and_contacts_are_masked_column_by_column():
    table = pa.table(
        {"user_id": ["u1", "u2"], "phone": ["13812344357", None],
         "birth_date": ["1990-05-17", None]}
    )  # fmt: skip
    out = masking.mask_table(table, masking.masked_columns(table.column_names))
    assert out.to_pylist() == [
        {"user_id": "u1", "phone": "138****4357", "birth_date": "1990-**-**"},
        {"user_id": "u2", "phone": None, "birth_date": None},
    ]
    contact = {"user_id": "u1", "name": "张三", "email": "zs@qq.com", "language": "zh"}
    assert masking.mask_contact(contact) == {
        "user_id": "u1",
        "name": "张*",
        "email": "z***@qq.com",
        "language": "zh",
    }
