"""The transition plan: tasks with a responsible unit, a deadline, dependencies and a status.

A task is overdue when its deadline (Vietnam date) has passed and it is not done; at risk when not done and either
its deadline is within ``horizon_days``, one of its dependencies is overdue or finished after this task's deadline, or
it is linked to a sync source (``cutover_source``) whose latest cut-over verdict is not ready or was never computed.
Verdicts are the ones ``hopnhat cutover check`` recorded (the plan cannot read the legacy sources itself), shown with
the time they were computed so a stale one is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.continuity import repository as repo
from hopnhat.continuity.models import PlanTask, PlanTaskDependency
from hopnhat.continuity.schemas import TaskIn
from hopnhat.errors import InvalidInput, NotFound
from hopnhat.files import FileLimits, read_csv_rows
from hopnhat.registry.text import nfc
from hopnhat.sync import cutover

STATUSES = ("todo", "in_progress", "done", "blocked")


def upsert_task(session: Session, data: TaskIn) -> PlanTask:
    """Create or update the task ``data.code``; its dependencies are replaced (they must exist already)."""
    task = repo.task_by_code(session, data.code)
    if task is None:
        task = PlanTask(code=data.code)
        session.add(task)
    task.title = nfc(data.title)
    task.responsible_unit = nfc(data.responsible_unit)
    task.deadline = data.deadline
    task.status = data.status
    task.cutover_source = data.cutover_source
    session.flush()
    session.query(PlanTaskDependency).filter(PlanTaskDependency.task_id == task.id).delete()
    for code in dict.fromkeys(data.depends_on):
        dep = repo.task_by_code(session, code)
        if dep is None:
            raise InvalidInput(f"task {data.code}: depends on unknown task {code!r}")
        if dep.id == task.id:
            raise InvalidInput(f"task {data.code}: a task cannot depend on itself")
        session.add(PlanTaskDependency(task_id=task.id, depends_on_id=dep.id))
    session.flush()
    return task


def set_status(session: Session, code: str, status: str, on: date) -> PlanTask:
    if status not in STATUSES:
        raise InvalidInput(f"task {code}: status must be one of {', '.join(STATUSES)}")
    task = repo.task_by_code(session, code)
    if task is None:
        raise NotFound(f"task {code!r} not found")
    task.status = status
    task.done_on = on if status == "done" else None
    session.flush()
    return task


def import_csv(session: Session, text: str, limits: FileLimits | None = None) -> int:
    """Columns: code, title, responsible_unit, deadline (YYYY-MM-DD), status, depends_on (codes split by ``;``),
    cutover_source. Rows may name dependencies that appear later in the file; at most ``limits.max_rows``."""
    rows = read_csv_rows(text, limits or FileLimits(), "plan CSV")
    parsed: list[TaskIn] = []
    for number, row in enumerate(rows, start=2):
        code = (row.get("code") or "").strip()
        try:
            parsed.append(
                TaskIn(
                    code=code,
                    title=(row.get("title") or "").strip(),
                    responsible_unit=(row.get("responsible_unit") or "").strip(),
                    deadline=date.fromisoformat((row.get("deadline") or "").strip()),
                    status=(row.get("status") or "todo").strip() or "todo",
                    depends_on=[c.strip() for c in (row.get("depends_on") or "").split(";") if c.strip()],
                    cutover_source=(row.get("cutover_source") or "").strip(),
                )
            )
        except ValueError as exc:
            reason = str(exc).splitlines()[0] if "validation" not in str(exc) else _first_error(exc)
            raise InvalidInput(f"plan CSV line {number} (task {code or '?'}): {reason}") from None
    # Two passes so a dependency may be listed after the task that needs it.
    for item in parsed:
        upsert_task(session, item.model_copy(update={"depends_on": []}))
    for item in parsed:
        upsert_task(session, item)
    return len(parsed)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', '')}"
    return str(exc)


def cutover_verdict(session: Session, source: str) -> cutover.Verdict | None:
    """The latest recorded cut-over verdict for ``source``, or None when it was never checked."""
    return cutover.verdict(session, source)


def _cutover_reason(source: str, verdict: cutover.Verdict | None) -> str | None:
    """Why a task linked to ``source`` cannot finish yet, or None when its source is ready."""
    if verdict is None:
        return f"cut-over of {source}: no verdict yet (run `hopnhat cutover check`)"
    if verdict["ready"]:
        return None
    checked = verdict["checked_at"].astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")
    return f"cut-over of {source} not ready (checked {checked}): {'; '.join(verdict['reasons'])}"


def evaluate(session: Session, today: date, horizon_days: int = 7) -> list[dict[str, Any]]:
    """Every task with its dependencies, ``overdue``, ``at_risk`` and the reasons."""
    tasks: Sequence[PlanTask] = repo.tasks(session)
    by_id = {t.id: t for t in tasks}
    deps: dict[int, list[int]] = {}
    for link in session.scalars(select(PlanTaskDependency)):
        deps.setdefault(link.task_id, []).append(link.depends_on_id)
    out: list[dict[str, Any]] = []
    for task in tasks:
        done = task.status == "done"
        reasons: list[str] = []
        overdue = not done and task.deadline < today
        if overdue:
            reasons.append(f"deadline {task.deadline} passed")
        at_risk = False
        if not done and not overdue and (task.deadline - today).days <= horizon_days:
            at_risk = True
            reasons.append(f"deadline in {(task.deadline - today).days} days")
        for dep_id in deps.get(task.id, []):
            dep = by_id[dep_id]
            late = (
                (dep.status != "done" and dep.deadline < today)
                or (dep.status == "done" and dep.done_on is not None and dep.done_on > task.deadline)
                or (dep.status != "done" and dep.deadline > task.deadline)
            )
            if late and not done:
                at_risk = True
                reasons.append(f"depends on {dep.code}, which is late")
        verdict = cutover_verdict(session, task.cutover_source) if task.cutover_source else None
        blocked_by = _cutover_reason(task.cutover_source, verdict) if task.cutover_source and not done else None
        if blocked_by:
            at_risk = True
            reasons.append(blocked_by)
        row: dict[str, Any] = {
            "code": task.code,
            "title": task.title,
            "responsible_unit": task.responsible_unit,
            "deadline": task.deadline,
            "status": task.status,
            "depends_on": [by_id[d].code for d in deps.get(task.id, [])],
            "cutover_source": task.cutover_source,
            "overdue": overdue,
            "at_risk": at_risk and not overdue,
            "reasons": reasons,
            "cutover": verdict,
            "cutover_blocked": blocked_by is not None,
        }
        out.append(row)
    return out


def overdue(session: Session, today: date) -> list[dict[str, Any]]:
    return [t for t in evaluate(session, today) if t["overdue"]]


def at_risk(session: Session, today: date, horizon_days: int = 7) -> list[dict[str, Any]]:
    return [t for t in evaluate(session, today, horizon_days) if t["at_risk"]]
