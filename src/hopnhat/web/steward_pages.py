"""The data stewards' pages (người quản lý dữ liệu): what stands between each source and its cut-over
(``/steward``), the quarantined records with their corrections, dismissals and bulk actions
(``/steward/quarantine``, ``/steward/quarantine/{id}``), and the review queue of migrated dossiers that need a
unit or a look (``/steward/review``).

The rules are :mod:`hopnhat.sync.stewardship`; this module reads forms and renders. A form that changes something
posts, checks the CSRF value and redirects back with what happened; a preview renders at once (it shows personal
data, so it is a POST, audited, never a URL).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydField
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError, InvalidInput
from hopnhat.i18n import translate, translate_reason
from hopnhat.identity.principal import Principal
from hopnhat.sync import cutover, stewardship
from hopnhat.sync import service as sync_service
from hopnhat.sync.connectors.base import CANONICAL_FIELDS
from hopnhat.sync.models import QuarantinedRecord
from hopnhat.sync.stewardship import DISMISS_REASONS, FIELD_MAX, Mapper, Rule, Selection
from hopnhat.web.common import check_form, guard, lang_of, redirect, render, settings_of

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

GateUser = Annotated[Principal, Depends(guard("steward"))]
StewardUser = Annotated[Principal, Depends(guard("quarantine"))]

TEXTS: dict[str, tuple[str, str]] = {
    "steward": ("Chuẩn bị chuyển đổi", "Towards the cut-over"),
    "st_check_running": (
        "Đang có một lần kiểm tra các nguồn; xin đợi lần đó xong rồi tải lại trang.",
        "The sources are being checked already; wait for that check, then reload the page.",
    ),
    "st_left": ("Việc còn lại theo nguồn", "What is left, per source"),
    "st_source": ("Nguồn", "Source"),
    "st_verdict": ("Kết luận", "Verdict"),
    "st_ready": ("Sẵn sàng", "Ready"),
    "st_not_ready": ("Chưa sẵn sàng", "Not ready"),
    "st_no_verdict": ("Chưa kiểm tra", "Not checked"),
    "st_cut_over": ("Đã chuyển đổi", "Cut over"),
    "st_checked_at": ("Kiểm tra lúc", "Checked at"),
    "st_quarantined": ("Bản ghi cách ly", "Quarantined records"),
    "st_proposed": ("Đề nghị loại bỏ chờ duyệt", "Dismissals to approve"),
    "st_without_unit": ("Hồ sơ mở chưa có đơn vị", "Open dossiers without a unit"),
    "st_to_review": ("Hồ sơ cần xem lại", "Dossiers to review"),
    "st_superseded": ("Bản sửa bị nguồn ghi đè", "Corrections the source overrode"),
    "st_check": ("Kiểm tra lại các nguồn", "Check the sources again"),
    "st_checked": ("Đã kiểm tra lại các nguồn.", "The sources were checked again."),
    "st_queue": ("Bản ghi cách ly", "Quarantined records"),
    "st_filter": ("Lọc", "Filter"),
    "st_reason_contains": ("Lý do có chứa", "Reason contains"),
    "st_since": ("Cách ly từ ngày", "Quarantined from"),
    "st_until": ("đến ngày", "to"),
    "st_all": ("Tất cả", "All"),
    "st_record": ("Bản ghi", "Record"),
    "st_source_id": ("Mã trong nguồn", "Source id"),
    "st_reasons": ("Lý do cách ly", "Reasons"),
    "st_correct": ("Sửa", "Correct"),
    "st_correct_load": ("Lưu bản sửa và nạp hồ sơ", "Save the correction and load the dossier"),
    "st_corrected": ("Đã sửa và nạp hồ sơ", "Corrected and loaded"),
    "st_dismiss": ("Đề nghị loại bỏ", "Propose to dismiss"),
    "st_dismiss_reason": ("Lý do loại bỏ", "Why dismiss"),
    "st_test_record": ("Bản ghi thử nghiệm", "Test record"),
    "st_duplicate": ("Trùng với mã hồ sơ khác", "Duplicate of another code"),
    "st_withdrawn": ("Rút trước khi hợp nhất", "Withdrawn before the merger"),
    "st_duplicate_of": ("Trùng với mã", "Duplicate of"),
    "st_proposed_ok": ("Đã đề nghị loại bỏ; cần người thứ hai duyệt.", "Dismissal proposed; a second person approves."),
    "st_proposals": ("Đề nghị loại bỏ chờ duyệt", "Dismissals waiting for approval"),
    "st_proposed_by": ("Người đề nghị", "Proposed by"),
    "st_approve": ("Duyệt", "Approve"),
    "st_reject": ("Từ chối", "Reject"),
    "st_yours": ("Đề nghị của bạn: người khác duyệt", "Yours: someone else approves"),
    "st_approved": ("Đã duyệt loại bỏ", "Dismissal approved"),
    "st_rejected": ("Đã từ chối đề nghị", "Proposal rejected"),
    "st_bulk": ("Thao tác hàng loạt trên các bản ghi đã lọc", "Bulk action on the filtered records"),
    "st_field": ("Trường", "Field"),
    "st_rule": ("Quy tắc", "Rule"),
    "st_rule_set": ("Gán giá trị", "Set to"),
    "st_rule_copy": ("Chép từ trường", "Copy from field"),
    "st_rule_replace": ("Thay chuỗi", "Replace text"),
    "st_value": ("Giá trị (hoặc tên trường, hoặc chuỗi mới)", "Value (or field name, or new text)"),
    "st_old": ("Chuỗi cần thay", "Text to replace"),
    "st_preview": ("Xem trước", "Preview"),
    "st_apply": ("Áp dụng", "Apply"),
    "st_dismiss_all": ("Đề nghị loại bỏ tất cả", "Propose to dismiss all"),
    "st_before": ("Trước", "Before"),
    "st_after": ("Sau", "After"),
    "st_loads": ("Nạp được", "Loads"),
    "st_yes": ("Có", "Yes"),
    "st_no": ("Không", "No"),
    "st_applied": ("Đã sửa hàng loạt", "Corrected in bulk"),
    "st_of": ("trên", "of"),
    "st_review": ("Hồ sơ cần đơn vị hoặc cần xem lại", "Dossiers that need a unit or a look"),
    "st_code": ("Mã hồ sơ", "Dossier code"),
    "st_original_unit": ("Đơn vị cũ", "Former unit"),
    "st_unit": ("Đơn vị hiện nay", "Unit today"),
    "st_why": ("Lý do", "Why"),
    "st_pick": ("Chọn đơn vị", "Pick the unit"),
    "st_seen": ("Đã xem", "Reviewed"),
    "st_unit_set": ("Đã gán đơn vị", "Unit set"),
    "st_reviewed": ("Đã xem lại", "Reviewed"),
    "st_back": ("Quay lại", "Back"),
    "st_none": ("Không còn gì.", "Nothing left."),
    "st_fields_note": (
        "Giá trị như nguồn ghi (ngày dạng YYYY-MM-DD HH:MM:SS hoặc dd/mm/yyyy). Bản sửa được giữ bên cạnh bản ghi "
        "gốc và áp dụng lại khi nguồn gửi lại bản ghi không đổi; nếu nguồn thay đổi bản ghi, bản ghi của nguồn được "
        "dùng và hồ sơ được đánh dấu để xem lại.",
        "Values as the source writes them (dates as YYYY-MM-DD HH:MM:SS or dd/mm/yyyy). The correction is kept "
        "beside the raw record and applied again while the source sends it unchanged; a changed record wins and "
        "the dossier is flagged for review.",
    ),
}
"""This module's texts (Vietnamese first): kept here so the shared table is not edited by every page."""

_RULE_KINDS = ("set", "copy", "replace")


def _t(lang: str) -> Any:
    def t(key: str) -> str:
        pair = TEXTS.get(key)
        if pair is None:
            return translate(key, lang)
        return pair[1] if lang == "en" else pair[0]

    return t


def _today() -> date:
    return datetime.now(VN_TZ).date()


def _config(request: Request) -> dict[str, dict[str, Any]]:
    path = settings_of(request).sync_config
    if not path:
        raise InvalidInput("the sources config is not set (HOPNHAT_SYNC_CONFIG): corrections and checks need it")
    return sync_service.load_config(Path(path))


def _mapper(request: Request, session: Session, *, need_config: bool = True) -> Mapper:
    try:
        config = _config(request)
    except HopnhatError:
        if need_config:
            raise
        config = {}
    return Mapper(session, config, _today())


def _page(request: Request, name: str, user: Principal, page: str, **context: Any) -> Response:
    lang = lang_of(request)
    return render(request, name, user, page, tt=_t(lang), reason=lambda r: translate_reason(str(r), lang), **context)


def _day(text: str, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what} {text[:20]!r} is not a date (YYYY-MM-DD)") from None


def _selection(source: str, reason: str, since: str, until: str) -> Selection:
    return Selection(source or None, reason or None, _day(since, "from"), _day(until, "to"))


# --- the gate ------------------------------------------------------------------------------------------------------


@router.get("/steward")
def gate_page(
    request: Request,
    session: SessionDep,
    user: GateUser,
    done: Annotated[str, Query(max_length=20)] = "",
    error: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    try:
        configured = list(_config(request))
    except HopnhatError:
        configured = []
    rows = stewardship.left(session, configured)
    return _page(request, "steward.html", user, "steward", rows=rows, done=done, error=error)


_CHECKING = threading.Lock()


@router.post("/steward/check")
def gate_check(
    request: Request,
    session: SessionDep,
    user: GateUser,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Compute the verdicts again (reads every configured source whole: the demo's take a few seconds)."""
    check_form(user, csrf)
    # One check at a time in this process: it reads every source whole, and repeated clicks would each hold a worker
    # and a write transaction.
    if not _CHECKING.acquire(blocking=False):
        return redirect("/steward", error=_t(lang_of(request))("st_check_running"))
    try:
        cutover.check(session, _config(request), _today())
    except HopnhatError as exc:
        session.rollback()
        return redirect("/steward", error=exc.detail)
    finally:
        _CHECKING.release()
    return redirect("/steward", done="checked")


# --- the quarantine ------------------------------------------------------------------------------------------------


def _queue(
    request: Request,
    session: Session,
    user: Principal,
    filters: Mapping[str, str],
    **context: Any,
) -> Response:
    try:
        selection = _selection(filters["source"], filters["reason"], filters["since"], filters["until"])
        rows = selection.rows(session)
    except HopnhatError as exc:
        rows, context["error"] = [], exc.detail
    return _page(
        request,
        "steward_quarantine.html",
        user,
        "quarantine",
        rows=rows,
        proposals=stewardship.proposals(session, user),
        filters=filters,
        sources=sorted({q.source for q in rows} | ({filters["source"]} if filters["source"] else set())),
        fields=CANONICAL_FIELDS,
        dismiss_reasons=DISMISS_REASONS,
        rule_kinds=_RULE_KINDS,
        query=urlencode({k: v for k, v in filters.items() if v}),
        **context,
    )


@router.get("/steward/quarantine")
def queue_page(
    request: Request,
    session: SessionDep,
    user: StewardUser,
    source: Annotated[str, Query(max_length=64)] = "",
    reason: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    done: Annotated[str, Query(max_length=300)] = "",
    error: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    filters = {"source": source, "reason": reason, "since": since, "until": until}
    return _queue(request, session, user, filters, done=done, error=error)


@router.get("/steward/quarantine/{record_id}")
def record_page(
    request: Request,
    session: SessionDep,
    user: StewardUser,
    record_id: int,
    error: Annotated[str, Query(max_length=1000)] = "",
) -> Response:
    """The correction form: the record's canonical fields as its mapping reads them (an audited view)."""
    q = session.get(QuarantinedRecord, record_id)
    fields: dict[str, str | None] = {}
    if q is not None:
        try:
            fields = stewardship.fields_of(session, user, _mapper(request, session), record_id)
        except HopnhatError as exc:
            error = error or exc.detail
    return _page(request, "steward_record.html", user, "quarantine", q=q, fields=fields, error=error)


class CorrectionForm(BaseModel):
    """The correction form: every canonical field as the steward left it (bounded), and the CSRF value."""

    model_config = ConfigDict(extra="forbid")

    csrf: str = PydField("", max_length=200)
    code: str = PydField("", max_length=FIELD_MAX)
    procedure_code: str = PydField("", max_length=FIELD_MAX)
    procedure_name: str = PydField("", max_length=FIELD_MAX)
    field_code: str = PydField("", max_length=FIELD_MAX)
    applicant_name: str = PydField("", max_length=FIELD_MAX)
    applicant_id_number: str = PydField("", max_length=FIELD_MAX)
    applicant_phone: str = PydField("", max_length=FIELD_MAX)
    applicant_address: str = PydField("", max_length=FIELD_MAX)
    applicant_type: str = PydField("", max_length=FIELD_MAX)
    channel: str = PydField("", max_length=FIELD_MAX)
    status: str = PydField("", max_length=FIELD_MAX)
    received_at: str = PydField("", max_length=FIELD_MAX)
    due_at: str = PydField("", max_length=FIELD_MAX)
    returned_at: str = PydField("", max_length=FIELD_MAX)
    unit: str = PydField("", max_length=FIELD_MAX)
    agency_code: str = PydField("", max_length=FIELD_MAX)


@router.post("/steward/quarantine/{record_id}/correct")
def correct(
    request: Request,
    session: SessionDep,
    user: StewardUser,
    record_id: int,
    form: Annotated[CorrectionForm, Form()],
) -> Response:
    """Only the fields the steward changed become the correction (the others keep following the mapping)."""
    check_form(user, form.csrf)
    given = form.model_dump(exclude={"csrf"})
    try:
        mapper = _mapper(request, session)
        current = stewardship.fields_of(session, user, mapper, record_id)
        changed = {k: v for k, v in given.items() if (v.strip() or None) != current.get(k)}
        out = stewardship.correct(session, user, mapper, record_id, changed)
    except HopnhatError as exc:
        session.rollback()
        return redirect(f"/steward/quarantine/{record_id}", error=exc.detail)
    return redirect("/steward/quarantine", done=f"corrected:{out.source} {out.source_id}")


@router.post("/steward/quarantine/{record_id}/dismiss")
def dismiss(
    session: SessionDep,
    user: StewardUser,
    record_id: int,
    reason: Annotated[str, Form(max_length=32)],
    duplicate_of: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form(user, csrf)
    try:
        stewardship.propose_dismissal(session, user, record_id, reason, duplicate_of, note)
    except HopnhatError as exc:
        session.rollback()
        return redirect("/steward/quarantine", error=exc.detail)
    return redirect("/steward/quarantine", done="proposed")


@router.post("/steward/dismissals/{dismissal_id}/{decision}")
def decide(
    session: SessionDep,
    user: StewardUser,
    dismissal_id: int,
    decision: str,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form(user, csrf)
    try:
        if decision == "approve":
            stewardship.approve(session, user, dismissal_id)
        elif decision == "reject":
            stewardship.reject(session, user, dismissal_id)
        else:
            raise InvalidInput(f"{decision[:20]!r}: approve or reject")
    except HopnhatError as exc:
        session.rollback()
        return redirect("/steward/quarantine", error=exc.detail)
    return redirect("/steward/quarantine", done="approved" if decision == "approve" else "rejected")


@router.post("/steward/bulk")
def bulk(
    request: Request,
    session: SessionDep,
    user: StewardUser,
    action: Annotated[str, Form(max_length=10)],
    source: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
    since: Annotated[str, Form(max_length=10)] = "",
    until: Annotated[str, Form(max_length=10)] = "",
    field: Annotated[str, Form(max_length=40)] = "",
    kind: Annotated[str, Form(max_length=10)] = "set",
    value: Annotated[str, Form(max_length=stewardship.FIELD_MAX)] = "",
    old: Annotated[str, Form(max_length=stewardship.FIELD_MAX)] = "",
    dismiss_reason: Annotated[str, Form(max_length=32)] = "",
    duplicate_of: Annotated[str, Form(max_length=64)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """``preview`` renders what the rule would change; ``apply`` corrects; ``dismiss`` proposes dismissals."""
    check_form(user, csrf)
    filters = {"source": source, "reason": reason, "since": since, "until": until}
    try:
        selection = _selection(source, reason, since, until)
        if action == "dismiss":
            proposed = stewardship.dismiss_selection(session, user, selection, dismiss_reason, duplicate_of or None)
            return redirect("/steward/quarantine", **filters, done=f"proposed:{len(proposed)}")
        if kind not in _RULE_KINDS:
            raise InvalidInput(f"rule {kind[:10]!r}: set, copy or replace")
        rule = Rule(kind, field, value, old)  # type: ignore[arg-type]
        mapper = _mapper(request, session)
        if action == "preview":
            outcomes = stewardship.preview(session, user, mapper, selection, rule)
            rule_form = {"field": field, "kind": kind, "value": value, "old": old}
            return _queue(request, session, user, filters, outcomes=outcomes, rule_form=rule_form)
        if action != "apply":
            raise InvalidInput(f"{action[:10]!r}: preview, apply or dismiss")
        outcomes = stewardship.apply_rule(session, user, mapper, selection, rule)
    except HopnhatError as exc:
        session.rollback()
        return redirect("/steward/quarantine", **filters, error=exc.detail)
    return redirect("/steward/quarantine", **filters, done=f"applied:{sum(o.loads for o in outcomes)}/{len(outcomes)}")


# --- the review queue ----------------------------------------------------------------------------------------------


@router.get("/steward/review")
def review_page(
    request: Request,
    session: SessionDep,
    user: StewardUser,
    source: Annotated[str, Query(max_length=64)] = "",
    done: Annotated[str, Query(max_length=100)] = "",
    error: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    mapper = _mapper(request, session, need_config=False)
    items = stewardship.review_queue(session, user, mapper.remapper, source or None)
    return _page(request, "steward_review.html", user, "quarantine", items=items, source=source, done=done, error=error)


@router.post("/steward/review/{action}")
def review_action(
    request: Request,
    session: SessionDep,
    user: StewardUser,
    action: str,
    code: Annotated[str, Form(max_length=64)],
    unit: Annotated[str, Form(max_length=8)] = "",
    source: Annotated[str, Form(max_length=64)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form(user, csrf)
    try:
        if action == "unit":
            mapper = _mapper(request, session, need_config=False)
            stewardship.pick_unit(session, user, mapper.remapper, code, unit)
        elif action == "ok":
            stewardship.acknowledge(session, user, code)
        else:
            raise InvalidInput(f"{action[:10]!r}: unit or ok")
    except HopnhatError as exc:
        session.rollback()
        return redirect("/steward/review", source=source, error=exc.detail)
    return redirect("/steward/review", source=source, done=f"{action}:{code}")


__all__ = ["TEXTS", "router"]
