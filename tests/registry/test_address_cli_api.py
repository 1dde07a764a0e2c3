"""Address conversion through the command line, the API and the store's registry (later change sets count)."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app
from hopnhat.config import get_settings
from hopnhat.db import ensure_schema, make_engine
from hopnhat.files import FileLimits, read_csv_rows
from hopnhat.registry.convert import AddressConverter, Status
from hopnhat.registry.loader import apply_change_set, parse_change_set

EXAMPLE = "12 Đường 30/4, P. Xuân Khánh, Q. Ninh Kiều, TP Cần Thơ"


def _cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--db", f"sqlite:///{tmp_path / 'cli.db'}", *args])
    return result.exit_code, result.output


def test_cli_convert_json(tmp_path: Path) -> None:
    code, out = _cli(tmp_path, "address", "convert", EXAMPLE, "--json", "--on", "2025-07-01")
    assert code == 0, out
    data = json.loads(out)
    assert data["status"] == "exact"
    assert data["new_address"] == "12 Đường 30/4, Phường Ninh Kiều, Thành phố Cần Thơ"
    assert not (tmp_path / "cli.db").exists()  # the bundled tables need no store


def test_cli_convert_text_lists_candidates(tmp_path: Path) -> None:
    code, out = _cli(tmp_path, "address", "convert", "Xa Phu Tan")
    assert code == 0, out
    assert "Có nhiều khả năng" in out and "31378" in out and "31582" in out  # ambiguous


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["address", "convert", ""], "address is empty"),
        (["address", "convert", "x" * 1_000_000], "characters long"),
        (["address", "convert", EXAMPLE, "--on", "31/02/2025"], "not a valid date"),
        (["address", "convert", EXAMPLE, "--store"], "registry is empty"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = _cli(tmp_path, *args)
    assert code == 1
    assert message in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1


def test_cli_convert_file(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    with src.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "dia_chi"])
        w.writerows(
            [["1", EXAMPLE], ["2", "P. Bùi Hữu Nghĩa, Q. Bình Thủy"], ["3", ""], ["4", "zzzz"], ["5", "y" * 600]]
        )
    out = tmp_path / "out.csv"
    code, text = _cli(tmp_path, "address", "convert-file", str(src), "--column", "dia_chi", "--output", str(out))
    assert code == 0, text
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert rows[0]["new_commune_code"] == "31135"
    assert rows[0]["new_address"] == "12 Đường 30/4, Phường Ninh Kiều, Thành phố Cần Thơ"
    assert rows[1]["status"] == "ambiguous" and "31120" in rows[1]["candidates"] and "31168" in rows[1]["candidates"]
    assert [r["status"] for r in rows[2:]] == ["not_found"] * 3
    assert [r["reason"] for r in rows] == ["", "", "empty", "no_unit", "too_long"]  # every not-found says why
    assert "5 địa chỉ" in text  # 5 addresses


def test_cli_convert_file_output_neutralises_formulas(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    with src.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(
            [["id", "dia_chi", "phone"], ["=1+1", EXAMPLE, "+84912345678"], ["-5", "@SUM(A1)", "-1"]]
        )
    out = tmp_path / "out.csv"
    code, text = _cli(tmp_path, "address", "convert-file", str(src), "--column", "dia_chi", "--output", str(out))
    assert code == 0, text
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("'=1+1,") and ",+84912345678,31135," in lines[1]
    assert lines[2].startswith("-5,'@SUM(A1),-1,")
    rows = list(read_csv_rows(out, FileLimits()))
    assert [(r["id"], r["dia_chi"], r["phone"]) for r in rows] == [
        ("=1+1", EXAMPLE, "+84912345678"),
        ("-5", "@SUM(A1)", "-1"),
    ]


def test_cli_convert_file_errors(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,addr\n1,x\n", encoding="utf-8")
    code, out = _cli(tmp_path, "address", "convert-file", str(src), "--column", "nope", "--output", str(tmp_path / "o"))
    assert code == 1 and "no column 'nope'" in out
    code, out = _cli(
        tmp_path, "address", "convert-file", str(tmp_path / "missing.csv"), "--column", "a", "--output", "o"
    )
    assert code == 1 and "no such file" in out
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"addr\n\xff\xfe\n")
    code, out = _cli(tmp_path, "address", "convert-file", str(bad), "--column", "addr", "--output", str(tmp_path / "o"))
    assert code == 1 and "not UTF-8" in out and "Traceback" not in out


def test_cli_convert_file_late_bad_byte_names_its_line_and_leaves_no_output(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"addr\n" + "P. An Hoà, Q. Ninh Kiều\n".encode() * 5000 + b"Ph\xf0\xf0ng X\n")
    out = tmp_path / "out.csv"
    code, text = _cli(tmp_path, "address", "convert-file", str(src), "--column", "addr", "--output", str(out))
    assert code == 1 and f"{src}: line 5002: not UTF-8" in text.replace("\n", ""), text
    assert "Traceback" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # no half-converted output left behind


def test_cli_convert_file_unusable_paths_are_one_line(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("addr\nP. An Hoà\n", encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    huge = tmp_path / "huge.csv"
    huge.write_text('addr\n"' + "a" * 200_000 + '"\n', encoding="utf-8")
    cases = [
        (tmp_path, tmp_path / "o.csv", "is a directory, not a CSV file"),
        (src, tmp_path, "is a directory; give a file name"),
        (src, tmp_path / "missing" / "o.csv", "cannot write"),
        (empty, tmp_path / "o.csv", "the file is empty"),
        (huge, tmp_path / "o.csv", "line 2: a field is longer than 131,072 characters"),
    ]
    for path, output, message in cases:
        code, text = _cli(tmp_path, "address", "convert-file", str(path), "--column", "addr", "--output", str(output))
        assert code == 1 and message in text.replace("\n", "") and "Traceback" not in text, text
    assert not (tmp_path / "o.csv").exists()


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    return TestClient(create_app(get_settings(database_url=url), engine))


def test_api_converts_a_batch_in_order(client: TestClient) -> None:
    resp = client.post(
        "/api/v1/addresses/convert",
        json={"addresses": [EXAMPLE, "Xã Phú Tân, Huyện Châu Thành, Tỉnh Sóc Trăng", "qqq"], "on": "2025-07-01"},
    )
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert [d["status"] for d in data] == ["exact", "exact", "not_found"]
    assert [d["reason"] for d in data] == [None, None, "no_unit"]
    assert data[1]["new_commune_code"] == "31582"
    assert data[0]["candidates"][0]["old_code"] == "31144"


@pytest.mark.parametrize(
    "body",
    [
        {"addresses": []},
        {"addresses": ["ok", ""]},
        {"addresses": ["x" * 1_000_000]},
        {"addresses": ["a"] * 1001},
        {"addresses": "not a list"},
        {"addresses": [EXAMPLE], "on": "2025-13-45"},
        {},
    ],
)
def test_api_bad_input_is_4xx_json(client: TestClient, body: dict[str, object]) -> None:
    resp = client.post("/api/v1/addresses/convert", json=body)
    assert 400 <= resp.status_code < 500
    assert resp.json()["error"] == "invalid_input"
    assert "x" * 100 not in resp.text  # the huge input is not echoed back


def test_store_converter_matches_bundled(rdb: Session) -> None:
    day = date(2025, 7, 1)
    store, bundled = AddressConverter.from_store(rdb, day), AddressConverter.bundled(day)
    # Every old commune and the five island districts that became special zones; every commune of 2025-07-01.
    assert store.commune_count == bundled.commune_count == (10_035 + 5, 3_321)
    for text in (EXAMPLE, "Xa Phu Tan", "P. Bùi Hữu Nghĩa, Q. Bình Thủy", "Xã Phú Tân, H. Châu Thành, Hậu Giang"):
        assert store.convert(text) == bundled.convert(text)


def test_store_converter_follows_a_later_change_set(rdb: Session) -> None:
    later = parse_change_set(
        "old_commune_code,old_commune_name,old_district_code,old_province_code,new_commune_code,new_commune_name,kind\n"
        "31120,Phường Cái Khế,,92,31135,Phường Ninh Kiều,whole\n"
        "31135,Phường Ninh Kiều,,92,31135,Phường Ninh Kiều,whole\n",
        effective=date(2026, 5, 1),
        legal_basis="Nghị quyết thử nghiệm",
    )
    apply_change_set(rdb, later)
    conv = AddressConverter.from_store(rdb, date(2026, 5, 1))
    r = conv.convert("P. An Hòa, Q. Ninh Kiều, TP Cần Thơ")  # old 31120 -> Cái Khế (2025) -> Ninh Kiều (2026)
    assert (r.status, r.new_commune_code, r.new_commune_name) == (Status.EXACT, "31135", "Phường Ninh Kiều")
    gone = conv.convert("Phường Cái Khế, Thành phố Cần Thơ")
    assert gone.new_commune_code == "31135"
    assert gone.status is Status.EXACT


def _load_registry(url: str) -> None:
    from hopnhat.db import session_scope
    from hopnhat.registry.loader import load_bundled

    engine = make_engine(url)
    with session_scope(engine) as session:
        load_bundled(session)
    engine.dispose()


def test_cli_and_api_on_a_loaded_store(store_url: str, tmp_path: Path) -> None:
    _load_registry(store_url)
    result = CliRunner().invoke(
        app, ["--db", store_url, "address", "convert", EXAMPLE, "--store", "--json", "--on", "2025-07-01"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["new_commune_code"] == "31135"
    engine = make_engine(store_url)
    try:
        client = TestClient(create_app(get_settings(database_url=store_url), engine))
        resp = client.post("/api/v1/addresses/convert", json={"addresses": ["Xa Phu Tan, Chau Thanh, Hau Giang"]})
        assert resp.status_code == 200, resp.text
        assert resp.json()[0]["new_commune_code"] == "31378"
    finally:
        engine.dispose()


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    """The conversion endpoint fuzzed from its OpenAPI schema: no input may produce a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    api = create_app(get_settings(database_url=url), engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api).include(path_regex="^/api/v1/addresses/")
    schema.validate()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 1
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        fuzz()
    engine.dispose()
