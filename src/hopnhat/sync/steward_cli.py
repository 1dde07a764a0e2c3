"""Commands: ``steward left|fields|correct|dismiss|approve|reject|proposals``, ``steward bulk preview|apply|dismiss``,
``steward review list|pick|ok`` and ``cutover commit``: the data stewards' work towards the cut-over, as the pages
offer it (:mod:`hopnhat.sync.stewardship` holds the rules). Each command commits once, audited as its principal."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hopnhat.cli_support import console, count, engine, lang, parse_day, principal, print_json, tr
from hopnhat.errors import InvalidInput
from hopnhat.i18n import translate_reason

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hopnhat.sync.stewardship import Mapper, Rule, Selection

steward_app = typer.Typer(
    help="The data stewards' work: corrections, dismissals, the review queue.", no_args_is_help=True
)
bulk_app = typer.Typer(help="Bulk actions on a selection of quarantined records.", no_args_is_help=True)
review_app = typer.Typer(help="Migrated dossiers that need a unit or a look.", no_args_is_help=True)
steward_app.add_typer(bulk_app, name="bulk")
steward_app.add_typer(review_app, name="review")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="sources.toml")]
OptionalConfig = Annotated[Path | None, typer.Option("--config", "-c", help="sources.toml (its split rules)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Only this source.")]
ReasonOpt = Annotated[
    str | None, typer.Option("--reason-contains", help="Only records whose reasons contain this text.")
]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Quarantined on or after this day.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Quarantined on or before this day.")]
FieldOpt = Annotated[str, typer.Option("--field", help="The canonical field the rule corrects.")]
SetOpt = Annotated[str | None, typer.Option("--set-to", help="Rule: give the field this value.")]
CopyOpt = Annotated[str | None, typer.Option("--copy-from", help="Rule: copy this other field's value.")]
ReplaceOpt = Annotated[str | None, typer.Option("--replace", help="Rule: replace this text in the field...")]
WithOpt = Annotated[str, typer.Option("--with", help="...with this text.")]


def _today() -> Any:
    from hopnhat.config import VN_TZ

    return datetime.now(VN_TZ).date()


def _mapper(session: Session, config: Path | None) -> Mapper:
    from hopnhat.sync import service
    from hopnhat.sync.stewardship import Mapper

    return Mapper(session, service.load_config(config) if config else {}, _today())


def _selection(source: str | None, reason: str | None, since: str | None, until: str | None) -> Selection:
    from hopnhat.sync.stewardship import Selection

    return Selection(
        source,
        reason,
        parse_day(since, "--since") if since else None,
        parse_day(until, "--until") if until else None,
    )


def _rule(field: str, set_to: str | None, copy_from: str | None, replace: str | None, with_: str) -> Rule:
    from hopnhat.sync.stewardship import Rule

    given = [x is not None for x in (set_to, copy_from, replace)]
    if sum(given) != 1:
        raise InvalidInput("give one rule: --set-to VALUE, --copy-from FIELD or --replace TEXT --with TEXT")
    if set_to is not None:
        return Rule("set", field, set_to)
    if copy_from is not None:
        return Rule("copy", field, copy_from)
    return Rule("replace", field, with_, replace or "")


def _fields(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--set {pair[:40]!r}: write FIELD=VALUE")
        out[key.strip()] = value
    return out


@steward_app.command("left")
def left_cmd(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """What stands between each source and its cut-over, with the latest recorded verdict."""
    from sqlalchemy.orm import Session

    from hopnhat.identity.roles import Permission
    from hopnhat.sync import stewardship

    with Session(engine(ctx)) as session:
        principal(ctx, session).require(Permission.SYNC_READ)  # counts only, no personal data
        rows = [asdict(r) for r in stewardship.left(session)]
    if as_json:
        print_json(rows)
        return
    language = lang(ctx)
    for r in rows:
        verdict = "—" if r["ready"] is None else tr("cli_st_ready" if r["ready"] else "cli_st_not_ready", language)
        if r["cut_over_at"] is not None:
            verdict = tr("cli_st_cut_over", language)
        line = tr("cli_st_left", language).format(
            r["source"], verdict, r["quarantined"], r["dismissals_proposed"], r["without_unit"], r["to_review"]
        )
        console.print(line, highlight=False)


@steward_app.command("fields")
def fields_cmd(ctx: typer.Context, record_id: int, config: ConfigOpt) -> None:
    """A quarantined record's canonical fields as its source's mapping reads them (audited: personal data)."""
    from hopnhat.db import session_scope
    from hopnhat.sync import stewardship

    with session_scope(engine(ctx)) as session:
        fields = stewardship.fields_of(session, principal(ctx, session), _mapper(session, config), record_id)
    print_json(fields)


@steward_app.command("correct")
def correct_cmd(
    ctx: typer.Context,
    record_id: int,
    config: ConfigOpt,
    sets: Annotated[list[str], typer.Option("--set", help="FIELD=VALUE (repeatable); none: accept as read.")] = [],  # noqa: B006
) -> None:
    """Correct a quarantined record and load its dossier; later syncs apply it while the source sends the record
    unchanged."""
    from hopnhat.db import session_scope
    from hopnhat.sync import stewardship

    with session_scope(engine(ctx)) as session:
        out = stewardship.correct(session, principal(ctx, session), _mapper(session, config), record_id, _fields(sets))
    console.print(tr("cli_st_corrected", lang(ctx)).format(out.source, out.source_id), highlight=False)


@steward_app.command("dismiss")
def dismiss_cmd(
    ctx: typer.Context,
    record_id: int,
    reason: Annotated[str, typer.Option("--reason", help="test_record, duplicate or withdrawn.")],
    duplicate_of: Annotated[str | None, typer.Option("--duplicate-of", help="The code it duplicates.")] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
) -> None:
    """Propose to dismiss a quarantined record; a second data steward approves it."""
    from hopnhat.db import session_scope
    from hopnhat.sync import stewardship

    with session_scope(engine(ctx)) as session:
        d = stewardship.propose_dismissal(session, principal(ctx, session), record_id, reason, duplicate_of, note)
        number = d.id
    console.print(tr("cli_st_proposed", lang(ctx)).format(number), highlight=False)


@steward_app.command("approve")
def approve_cmd(ctx: typer.Context, dismissal_ids: list[int]) -> None:
    """Approve proposed dismissals (not your own)."""
    from hopnhat.db import session_scope
    from hopnhat.sync import stewardship

    with session_scope(engine(ctx)) as session:
        done = stewardship.approve_many(session, principal(ctx, session), dismissal_ids)
    language = lang(ctx)
    console.print(tr("cli_st_approved", language).format(count(len(done), "cli_n_dismissals", language)))


@steward_app.command("reject")
def reject_cmd(ctx: typer.Context, dismissal_id: int) -> None:
    """Refuse a proposed dismissal: the record stays quarantined."""
    from hopnhat.db import session_scope
    from hopnhat.sync import stewardship

    with session_scope(engine(ctx)) as session:
        stewardship.reject(session, principal(ctx, session), dismissal_id)
    console.print(tr("cli_st_rejected", lang(ctx)).format(dismissal_id))


@steward_app.command("proposals")
def proposals_cmd(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Dismissals waiting for a second person."""
    from sqlalchemy.orm import Session

    from hopnhat.sync import stewardship

    with Session(engine(ctx)) as session:
        rows = stewardship.proposals(session, principal(ctx, session))
    if as_json:
        print_json(rows)
        return
    language = lang(ctx)
    for r in rows:
        line = tr("cli_st_proposal", language).format(
            r["id"], r["record_id"], r["source"], r["source_id"], r["reason"], r["proposed_by"]
        )
        console.print(line, highlight=False)


def _print_outcomes(outcomes: list[Any], as_json: bool, verb_key: str, language: str) -> None:
    if as_json:
        print_json([asdict(o) for o in outcomes])
        return
    verb = tr(verb_key, language)
    for o in outcomes:
        result = verb if o.loads else tr("cli_st_stays", language).format("; ".join(o.reasons))
        console.print(f"{o.record_id} {o.source} {o.source_id}: {o.before!r} -> {o.after!r}, {result}", highlight=False)
    console.print(tr("cli_st_outcomes", language).format(sum(o.loads for o in outcomes), len(outcomes), verb))


@bulk_app.command("preview")
def bulk_preview(
    ctx: typer.Context,
    config: ConfigOpt,
    field: FieldOpt,
    source: SourceOpt = None,
    reason: ReasonOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    set_to: SetOpt = None,
    copy_from: CopyOpt = None,
    replace: ReplaceOpt = None,
    with_: WithOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """What a rule would change in the selected records, and which would then load. Nothing changes."""
    from hopnhat.db import session_scope
    from hopnhat.sync import stewardship

    rule = _rule(field, set_to, copy_from, replace, with_)
    with session_scope(engine(ctx)) as session:  # commits the preview's audit entry only
        outcomes = stewardship.preview(
            session, principal(ctx, session), _mapper(session, config), _selection(source, reason, since, until), rule
        )
    _print_outcomes(outcomes, as_json, "cli_st_would_load", lang(ctx))


@bulk_app.command("apply")
def bulk_apply(
    ctx: typer.Context,
    config: ConfigOpt,
    field: FieldOpt,
    source: SourceOpt = None,
    reason: ReasonOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    set_to: SetOpt = None,
    copy_from: CopyOpt = None,
    replace: ReplaceOpt = None,
    with_: WithOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Correct every selected record the rule makes loadable; the others stay quarantined, listed."""
    from hopnhat.db import session_scope
    from hopnhat.sync import stewardship

    rule = _rule(field, set_to, copy_from, replace, with_)
    with session_scope(engine(ctx)) as session:
        outcomes = stewardship.apply_rule(
            session, principal(ctx, session), _mapper(session, config), _selection(source, reason, since, until), rule
        )
    _print_outcomes(outcomes, as_json, "cli_st_corrected_verb", lang(ctx))


@bulk_app.command("dismiss")
def bulk_dismiss(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="test_record, duplicate or withdrawn.")],
    source: SourceOpt = None,
    reason_contains: ReasonOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    duplicate_of: Annotated[str | None, typer.Option("--duplicate-of")] = None,
) -> None:
    """Propose a dismissal for every selected record (each approved by a second person)."""
    from hopnhat.db import session_scope
    from hopnhat.sync import stewardship

    with session_scope(engine(ctx)) as session:
        done = stewardship.dismiss_selection(
            session, principal(ctx, session), _selection(source, reason_contains, since, until), reason, duplicate_of
        )
        ids = [d.id for d in done]
    language = lang(ctx)
    found = count(len(ids), "cli_n_dismissals", language)
    console.print(tr("cli_st_proposed_many", language).format(found, " ".join(map(str, ids))), highlight=False)


@review_app.command("list")
def review_list(
    ctx: typer.Context, config: OptionalConfig = None, source: SourceOpt = None, as_json: JsonOpt = False
) -> None:
    """Migrated dossiers that need a unit or a look, with the units each may go to."""
    from sqlalchemy.orm import Session

    from hopnhat.sync import stewardship

    with Session(engine(ctx)) as session:
        mapper = _mapper(session, config)
        items = stewardship.review_queue(session, principal(ctx, session), mapper.remapper, source)
    if as_json:
        print_json([asdict(i) for i in items])
        return
    language = lang(ctx)
    for i in items:
        choices = ", ".join(f"{c} {n}" for c, n in i.candidates) or tr("cli_st_no_candidate", language)
        line = tr("cli_st_review", language).format(i.code, i.source, i.unit_code or "—", i.reason or "", choices)
        console.print(line, highlight=False)


@review_app.command("pick")
def review_pick(ctx: typer.Context, code: str, unit: str, config: OptionalConfig = None) -> None:
    """Give a dossier one of its candidate units; the choice sticks across syncs."""
    from hopnhat.db import session_scope
    from hopnhat.sync import stewardship

    with session_scope(engine(ctx)) as session:
        stewardship.pick_unit(session, principal(ctx, session), _mapper(session, config).remapper, code, unit)
    console.print(tr("cli_st_picked", lang(ctx)).format(code, unit), highlight=False)


@review_app.command("ok")
def review_ok(ctx: typer.Context, code: str) -> None:
    """Clear a dossier's review flag after a look."""
    from hopnhat.db import session_scope
    from hopnhat.sync import stewardship

    with session_scope(engine(ctx)) as session:
        stewardship.acknowledge(session, principal(ctx, session), code)
    console.print(tr("cli_st_reviewed", lang(ctx)).format(code), highlight=False)


def cutover_commit(
    ctx: typer.Context,
    source: str,
    config: ConfigOpt,
    force: Annotated[
        bool, typer.Option("--force", help="Past a NOT READY verdict (administrator, with --reason).")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it is forced.")] = None,
) -> None:
    """Switch a source off: a final sync, its verdict, then (when READY, or forced by an administrator with a reason)
    the cut-over, audited. From then the sync no longer reads it and hopnhat owns its dossiers."""
    from sqlalchemy.orm import Session

    from hopnhat.db import session_scope
    from hopnhat.sync import cutover, service, steward_repo, stewardship
    from hopnhat.sync.cli import print_results, run_with_progress

    store = engine(ctx)
    picked = service.pick(service.load_config(config), source)
    with Session(store) as session:
        who = principal(ctx, session)
        if steward_repo.cutover_of(session, source) is not None:
            raise InvalidInput(f"source {source} was cut over already")
        stewardship.check_may_commit(who, force)
    language = lang(ctx)
    console.print(f"[bold]{tr('cli_st_final_sync', language).format(source)}[/]", highlight=False)
    results = run_with_progress(ctx, picked, dry_run=False, full=False, quiet=True)
    print_results(results)
    with session_scope(store) as session:
        verdict = cutover.check(session, picked, _today())[source]
        done = stewardship.commit_cutover(session, principal(ctx, session), source, verdict, force=force, reason=reason)
        forced = done.forced
    for line in verdict["reasons"]:
        console.print(f"  - {translate_reason(str(line), language)}", highlight=False)
    how = tr("cli_st_forced", language) if forced else ""
    console.print(tr("cli_st_committed", language).format(source, how), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(steward_app, name="steward")
    from hopnhat.sync.cli import cutover_app

    cutover_app.command("commit")(cutover_commit)
