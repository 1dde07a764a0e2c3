"""``hopnhat address``: convert old addresses (before 2025-07-01) to the units in force, one or a whole CSV file."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

# Only light modules at the top: every ``hopnhat`` call imports this file, so the converter (rapidfuzz, the
# registry tables) and the store are imported inside the commands that use them.
from hopnhat.cli_support import (
    console,
    count,
    engine,
    lang,
    parse_day,
    print_json,
    print_table,
    state,
    table,
    tr,
    value,
)
from hopnhat.errors import InvalidInput

if TYPE_CHECKING:
    from hopnhat.files import FileLimits
    from hopnhat.registry.convert import AddressConverter, Conversion

address_app = typer.Typer(help="Address conversion, old -> new (no network, ever).", no_args_is_help=True)

OnOpt = Annotated[
    str | None, typer.Option("--on", help="Name the units in force on this date (YYYY-MM-DD; default today).")
]
StoreOpt = Annotated[
    bool,
    typer.Option(
        "--store",
        help="Use the registry in the store (--db), so change sets applied later count; default: the bundled tables.",
    ),
]
OUTPUT_COLUMNS = ("new_commune_code", "new_commune_name", "new_address", "status", "candidates", "reason")


def converter(ctx: typer.Context, on: str | None, store: bool, *, batch: bool = False) -> AddressConverter:
    from sqlalchemy.orm import Session

    from hopnhat.registry.convert import AddressConverter, bundled_converter

    day = parse_day(on)
    if not store:
        return bundled_converter(day, warm=batch)
    with Session(engine(ctx)) as session:
        conv = AddressConverter.from_store(session, day)
    if conv.commune_count == (0, 0):
        raise InvalidInput("the store's registry is empty: run `hopnhat registry load` first, or leave out --store")
    return conv.warm().settle() if batch else conv


def _candidates_cell(result: Conversion) -> str:
    return " | ".join(c.label() for c in result.candidates)


@address_app.command("convert")
def convert(
    ctx: typer.Context,
    text: Annotated[
        str, typer.Argument(help='The address, e.g. "12 Đường 30/4, P. Xuân Khánh, Q. Ninh Kiều, TP Cần Thơ".')
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    on: OnOpt = None,
    store: StoreOpt = False,
) -> None:
    """Convert one address; ambiguous answers list every candidate."""
    result = converter(ctx, on, store).convert(text)
    if as_json:
        print_json(asdict(result))
        return
    language = lang(ctx)
    status = str(getattr(result.status, "value", result.status))
    console.print(f"{tr('cli_conversion', language)}: [bold]{value(status, language)}[/]", highlight=False)
    if result.reason:
        console.print(f"{tr('reason', language)}: {tr('why_' + result.reason, language)}", highlight=False)
    if result.new_address:
        console.print(f"{tr('cli_new_address', language)}: {result.new_address}", highlight=False)
        console.print(
            f"{tr('cli_new_commune', language)}: {result.new_commune_code} {result.new_commune_name}", highlight=False
        )
    if result.candidates:
        print_table(
            table(language, "cli_code", "cli_new_unit", "cli_old_unit", "cli_old_district", "cli_old_province"),
            (
                [
                    c.code,
                    c.name,
                    f"{c.old_code} {c.old_name}" if c.old_code else tr("cli_unit_in_force", language),
                    c.old_district or "-",
                    c.old_province or "-",
                ]
                for c in result.candidates
            ),
        )


@address_app.command("convert-file")
def convert_file(
    ctx: typer.Context,
    input_path: Annotated[Path, typer.Argument(help="CSV file (UTF-8, with a header row).", metavar="IN.csv")],
    column: Annotated[str, typer.Option("--column", help="The column holding the address.")],
    output: Annotated[Path, typer.Option("--output", help="Where to write the CSV with the added columns.")],
    on: OnOpt = None,
    store: StoreOpt = False,
) -> None:
    """Convert a CSV file row by row (streamed, within the import limits), adding new_commune_code,
    new_commune_name, new_address, status and candidates. A row with an empty or over-long address gets status
    not_found; the file goes on. Output cells a spreadsheet would run as formulas are neutralised."""
    from hopnhat.files import FileLimits, check_size
    from hopnhat.registry.convert import Status

    if input_path.is_dir():
        raise InvalidInput(f"{input_path}: is a directory, not a CSV file")
    limits = FileLimits.from_settings(state(ctx).settings)
    total = check_size(input_path, limits)
    conv = converter(ctx, on, store, batch=True)
    if output.resolve() == input_path.resolve():
        raise InvalidInput(f"{output}: the output must not overwrite the input")
    if output.is_dir():
        raise InvalidInput(f"{output}: is a directory; give a file name for --output")
    counts: Counter[str] = Counter()
    # Written next to the output and renamed at the end: a file refused half-way leaves no half-converted output
    # behind that could pass for a finished one.
    partial = output.with_name(f".{output.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            _convert_rows(conv, input_path, limits, out, column, total, counts)
        partial.replace(output)
    except OSError as exc:
        raise InvalidInput(f"{output}: cannot write ({exc.strerror})") from None
    finally:
        partial.unlink(missing_ok=True)
    rows = sum(counts.values())
    summary = ", ".join(f"{s.value} {counts[s]}" for s in Status if counts[s])
    language = lang(ctx)
    done = count(rows, "cli_n_addresses", language)
    console.print(f"{done} -> {output}: {summary or tr('cli_none', language)}", highlight=False)


def _convert_rows(
    conv: AddressConverter,
    path: Path,
    limits: FileLimits,
    out: TextIO,
    column: str,
    total: int,
    counts: Counter[str],
) -> None:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    from hopnhat.files import csv_writer, open_csv
    from hopnhat.registry.convert import MAX_ADDRESS_LENGTH, NotFound, Status

    with open_csv(path, limits) as reader:
        header = reader.fieldnames
        if not header:
            raise InvalidInput(f"{path}: the file is empty; expected a header row with a column {column!r}")
        if column not in header:
            raise InvalidInput(f"{path}: no column {column!r}; the columns are {', '.join(map(repr, header))}")
        clash = [c for c in OUTPUT_COLUMNS if c in header]
        if clash:
            raise InvalidInput(f"{path}: already has column(s) {', '.join(clash)}")
        progress = Progress(
            TextColumn("converting"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(), console=console
        )
        writer = csv_writer(out, [*header, *OUTPUT_COLUMNS])
        writer.writeheader()
        with progress:
            task = progress.add_task("convert", total=total)
            for n, row in enumerate(reader, start=1):
                text = row.get(column) or ""
                try:
                    result = conv.convert(text)
                except InvalidInput:
                    counts[Status.NOT_FOUND] += 1
                    why = NotFound.TOO_LONG if len(text) > MAX_ADDRESS_LENGTH else NotFound.EMPTY
                    row.update(dict.fromkeys(OUTPUT_COLUMNS, ""), status=Status.NOT_FOUND.value, reason=why.value)
                else:
                    counts[result.status] += 1
                    row.update(
                        new_commune_code=result.new_commune_code or "",
                        new_commune_name=result.new_commune_name or "",
                        new_address=result.new_address or "",
                        status=result.status.value,
                        candidates=_candidates_cell(result),
                        reason=result.reason.value if result.reason else "",
                    )
                writer.writerow(row)  # the extra fields of a ragged row are left out
                if n % 2000 == 0:
                    progress.update(task, completed=reader.bytes_read)
            progress.update(task, completed=total)


def register(app: typer.Typer) -> None:
    app.add_typer(address_app, name="address")


__all__ = ["register"]
