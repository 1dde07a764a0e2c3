"""Pages of the portal part: the dead letters (mend and resend, or skip; audited) and the Decision 766 report as the
portal computes it (per center and for the city, a chart, CSV/XLSX, what is unconfirmed marked).

The rules are in :mod:`hopnhat.portal.service` and :mod:`hopnhat.portal.indicators`; these routes are thin.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hopnhat.config import VN_TZ
from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError, InvalidInput
from hopnhat.identity import audit
from hopnhat.identity.principal import Principal
from hopnhat.portal import indicators
from hopnhat.portal import service as portal
from hopnhat.portal.mapping import MENDABLE_FIELDS
from hopnhat.web import charts
from hopnhat.web.common import check_form, guard, lang_of, redirect, render

LABELS = {
    "on_time": ("Đúng hạn", "On time"),
    "online": ("Nộp trực tuyến", "Submitted online"),
    "digitised": ("Có thành phần số hoá", "Digitised"),
    "paid_online": ("Thanh toán trực tuyến", "Paid online"),
    "vneid": ("Đăng nhập VNeID", "VNeID sign-in"),
    "synced": ("Đồng bộ lên Cổng", "Synced to the portal"),
}
"""Indicator names on the page (Vietnamese first)."""

RULES_VI = {
    "on_time": "kết thúc xử lý trước hoặc đúng ngày hẹn trả; hồ sơ yêu cầu bổ sung quá một lần tính là trễ hạn "
    "(theo mô tả công khai công thức của Cổng, chưa xác nhận)",
    "online": "nộp trực tuyến (KenhThucHien 2)",
    "digitised": "có ít nhất một thành phần hồ sơ được số hoá (HoSoCoThanhPhanSoHoa)",
    "paid_online": "trong số hồ sơ có phí, lệ phí: thanh toán trực tuyến (DuocThanhToanTrucTuyen)",
    "vneid": "trong số hồ sơ nộp trực tuyến: tài khoản xác thực bằng VNeID (TaiKhoanDuocXacThucVoiVNeID)",
    "synced": "hồ sơ Cổng đã nhận đủ trên số hồ sơ tại chỗ: không truy cập được số liệu của Hệ thống thông tin báo "
    "cáo quốc gia từ đây (chưa xác nhận)",
}
"""The rules of :data:`hopnhat.portal.indicators.NOTES`, in Vietnamese."""


def _label(name: str, lang: str) -> str:
    vi, en = LABELS[name]
    return en if lang == "en" else vi


def dead_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("portal"))],
    done: Annotated[str, Query(max_length=40)] = "",
    failed: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    status = portal.status(session)
    dead = portal.dead_letters(session, 200)
    return render(
        request,
        "portal.html",
        user,
        "portal",
        status=status,
        dead=dead,
        fields=MENDABLE_FIELDS,
        done=done,
        failed=failed,
    )


def _back(**query: str) -> RedirectResponse:
    return redirect("/portal", **query)


def mend_dead(
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("portal_write"))],
    event_id: int,
    field: Annotated[str, Form(max_length=40)],
    value: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=500)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form(user, csrf)
    try:
        changes = portal.mend(session, event_id, {field: value}, reason, user.username or "")
    except HopnhatError as exc:
        session.rollback()
        return _back(failed=f"#{event_id}: {exc.detail}"[:300])
    audit.record(session, user, "portal.mend", object_type="outbox_event", object_id=str(event_id), changes=changes)
    return _back(done=f"mended:{event_id}")


def skip_dead(
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("portal_write"))],
    event_id: int,
    reason: Annotated[str, Form(max_length=500)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form(user, csrf)
    try:
        changes = portal.skip(session, event_id, reason)
    except HopnhatError as exc:
        session.rollback()
        return _back(failed=f"#{event_id}: {exc.detail}"[:300])
    audit.record(session, user, "portal.skip", object_type="outbox_event", object_id=str(event_id), changes=changes)
    return _back(done=f"skipped:{event_id}")


def _period(start: str, end: str) -> tuple[date, date]:
    """The period typed on the page (first and last day, inclusive); the current month by default."""
    today = datetime.now(VN_TZ).date()
    try:
        first = date.fromisoformat(start) if start else today.replace(day=1)
        last = date.fromisoformat(end) if end else today
    except ValueError:
        raise InvalidInput("dates are YYYY-MM-DD") from None
    if last < first or (last - first).days > 366:
        raise InvalidInput("the period runs forward and spans at most a year")
    return first, last


def report_766(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("report766"))],
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
    center: Annotated[str, Query(max_length=40)] = "",
    format: Annotated[str, Query(max_length=4, pattern="^(|html|csv|xlsx)$")] = "",
) -> Response:
    lang = lang_of(request)
    error = ""
    try:
        first, last = _period(start, end)
    except InvalidInput as exc:
        error = exc.detail
        first = last = datetime.now(VN_TZ).date()
    since = datetime.combine(first, time(), VN_TZ)
    until = datetime.combine(last + timedelta(days=1), time(), VN_TZ)
    result = indicators.compute(session, since, until, center.strip() or None)
    if format in ("csv", "xlsx"):
        body = indicators.export(result, format)
        media = "text/csv; charset=utf-8" if format == "csv" else (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )  # fmt: skip
        name = f"766-{first.isoformat()}-{last.isoformat()}.{format}"
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
    city = result[-1]
    chart = charts.bar_chart(
        _label("on_time", lang),
        [(r.center or "—", r.shares["on_time"].percent or 0.0) for r in result[:-1]][:40],
        unit=" %",
        max_value=100,
    )
    rows: list[dict[str, Any]] = []
    for r in result:
        rows.append(
            {
                "center": r.center,
                "received": r.received,
                "finished": r.finished,
                "late_by_supplements": r.late_by_supplements,
                "shares": [(name, r.shares[name]) for name in indicators.INDICATORS],
            }
        )
    query = urlencode({"start": first.isoformat(), "end": last.isoformat(), "center": center})
    return render(
        request,
        "report766.html",
        user,
        "report766",
        rows=rows,
        city=city,
        chart=chart,
        indicators=[
            (
                name,
                _label(name, lang),
                indicators.CONFIRMED[name],
                indicators.NOTES[name] if lang == "en" else RULES_VI[name],
            )
            for name in indicators.INDICATORS
        ],
        labels={name: _label(name, lang) for name in indicators.INDICATORS},
        start=first.isoformat(),
        end=last.isoformat(),
        center=center,
        query=query,
        error=error,
    )


def mount(app: FastAPI) -> None:
    """Add the portal pages to ``app`` (from :func:`hopnhat.web.pages.mount`)."""
    app.add_api_route("/portal", dead_page, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)
    app.add_api_route("/portal/dead/{event_id}/mend", mend_dead, methods=["POST"], include_in_schema=False)
    app.add_api_route("/portal/dead/{event_id}/skip", skip_dead, methods=["POST"], include_in_schema=False)
    app.add_api_route("/reports/766", report_766, methods=["GET"], include_in_schema=False)


__all__ = ["mount"]
