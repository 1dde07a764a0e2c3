"""Texts in Vietnamese (first) and English, for the pages and the CLI.

A page takes its language from ``?lang=`` or the ``lang`` cookie.

Every Vietnamese text is written with its diacritics and kept in NFC (a test checks both).
"""

from __future__ import annotations

import re

LANGS = ("vi", "en")
DEFAULT_LANG = "vi"

TEXTS: dict[str, tuple[str, str]] = {
    "app_title": ("Hợp nhất Cần Thơ", "Cần Thơ consolidation"),
    "skip": ("Bỏ qua đến nội dung chính", "Skip to main content"),
    "nav": ("Điều hướng chính", "Main navigation"),
    "overview": ("Tổng quan", "Overview"),
    "registry": ("Danh mục đơn vị", "Unit registry"),
    "convert": ("Chuyển đổi địa chỉ", "Address converter"),
    "sync": ("Đồng bộ dữ liệu", "Data sync"),
    "quarantine": ("Hồ sơ cách ly", "Quarantine"),
    "sources": ("Nguồn dữ liệu", "Sources"),
    "dry_run": ("Chạy thử", "Dry run"),
    "fields": ("Trường dữ liệu", "Fields"),
    "unknown_values": ("Giá trị chưa ánh xạ", "Unknown values"),
    "would_quarantine": ("Sẽ bị cách ly", "Would be quarantined"),
    "file_problems": ("Lỗi tệp", "File problems"),
    "filled": ("Có giá trị", "Filled"),
    "parsed": ("Đọc được", "Parsed"),
    "records": ("Bản ghi", "Records"),
    "location": ("Vị trí", "Location"),
    "profile": ("Hồ sơ ánh xạ", "Mapping profile"),
    "connector": ("Loại kết nối", "Connector"),
    "sample_ids": ("Mã mẫu đã lưu", "Sampled ids"),
    "check": ("Kiểm tra", "Check"),
    "field": ("Trường", "Field"),
    "value": ("Giá trị", "Value"),
    "lookup": ("Tra cứu hồ sơ", "Dossier lookup"),
    "dossiers": ("Hồ sơ theo trung tâm", "Dossiers per center"),
    "systems": ("Hệ thống", "Systems"),
    "incidents": ("Sự cố", "Incidents"),
    "plan": ("Kế hoạch", "Plan"),
    "centers": ("Trung tâm phục vụ", "Service centers"),
    "signin": ("Đăng nhập", "Sign in"),
    "signout": ("Đăng xuất", "Sign out"),
    "username": ("Tên đăng nhập", "Username"),
    "password": ("Mật khẩu", "Password"),
    "bad_signin": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password."),
    "signed_in_as": ("Đang đăng nhập", "Signed in as"),
    "audit": ("Nhật ký truy cập", "Audit log"),
    "audit_intro": (
        "Ai đã xem dữ liệu cá nhân của ai, ai đã thay đổi gì (Nghị định 13/2023/NĐ-CP).",
        "Who saw whose personal data, who changed what (Decree 13/2023/NĐ-CP).",
    ),
    "audit_actor": ("Tài khoản", "Account"),
    "audit_action": ("Hành động", "Action"),
    "audit_object": ("Đối tượng (mã hồ sơ, ...)", "Object (dossier code, ...)"),
    "audit_citizen": ("Các lần truy cập dữ liệu của một công dân", "Every access to one citizen's data"),
    "audit_id_number": ("Số CCCD của công dân", "The citizen's ID number"),
    "audit_format": ("Định dạng", "Format"),
    "audit_on_page": ("Xem trên trang", "On the page"),
    "audit_citizen_result": ("Số lần truy cập", "Accesses"),
    "calendar": ("Lịch làm việc", "Working calendar"),
    "cal_intro": (
        "Hạn xử lý tính theo giờ làm việc: bảng của đơn vị vận hành được ưu tiên hơn bảng lịch nghỉ, làm bù của "
        "cán bộ, công chức (đã kiểm tra), bảng này ưu tiên hơn thư viện holidays. Sửa lịch không làm thay đổi hạn "
        "xử lý đã cấp.",
        "Due dates are counted in working hours: the operator's table comes before the civil service's checked "
        "table of days off and Saturdays worked, which comes before the holidays library. An edit never changes a "
        "due date already given.",
    ),
    "cal_day": ("Ngày", "Day"),
    "cal_kind": ("Loại ngày", "Kind"),
    "cal_source": ("Nguồn", "Source"),
    "legal_basis": ("Căn cứ pháp lý", "Legal basis"),
    "cal_off": ("Ngày nghỉ", "Day off"),
    "cal_work": ("Ngày làm việc (làm bù)", "Day worked (make-up)"),
    "cal_not_off": ("Không phải ngày nghỉ", "Not a day off"),
    "cal_src_operator": ("Bảng của đơn vị vận hành", "Operator's table"),
    "cal_src_bundled": ("Lịch của cán bộ, công chức (đã kiểm tra)", "Civil service calendar (checked)"),
    "cal_src_library": ("Thư viện holidays", "holidays library"),
    "cal_unconfirmed": ("Chưa xác nhận", "Unconfirmed"),
    "cal_add": ("Thêm hoặc sửa một ngày", "Add or change a day"),
    "cal_save": ("Lưu", "Save"),
    "cal_remove": ("Xoá", "Remove"),
    "cal_saved": ("Đã lưu; hạn xử lý đã cấp không thay đổi.", "Saved; due dates already given are not changed."),
    "cal_listed": (
        "hồ sơ đang mở sẽ có hạn xử lý khác theo lịch mới và chờ quyết định.",
        "open dossiers would get another due date on the new calendar and wait for a decision.",
    ),
    "cal_others_decide": (
        "Cán bộ Trung tâm quyết định hạn xử lý của hồ sơ thuộc Trung tâm mình.",
        "The centers' officers decide the due dates of their centers' dossiers.",
    ),
    "cal_edited_day": ("Ngày được sửa", "Day edited"),
    "due_decisions": ("Hạn xử lý chờ quyết định", "Due dates to decide"),
    "due_decisions_intro": (
        "Lịch làm việc đã được sửa: các hồ sơ dưới đây giữ hạn xử lý đã cấp cho đến khi có quyết định giữ nguyên "
        "hoặc chuyển sang hạn theo lịch mới.",
        "The working calendar was edited: these dossiers keep the due date given until someone decides to keep it "
        "or move it to the new calendar's.",
    ),
    "dossiers_waiting": ("hồ sơ chờ quyết định", "dossiers waiting"),
    "due_given": ("Hạn đã cấp", "Due date given"),
    "due_proposed": ("Hạn theo lịch mới", "Due date on the new calendar"),
    "decide": ("Quyết định", "Decide"),
    "decide_move": ("Chuyển sang hạn mới", "Move to the new date"),
    "decide_keep": ("Giữ hạn đã cấp", "Keep the date given"),
    "decide_all_move": ("Chuyển tất cả sang hạn mới", "Move all to the new dates"),
    "decide_all_keep": ("Giữ tất cả hạn đã cấp", "Keep all dates given"),
    "decided_n": ("Số hồ sơ đã quyết định", "Dossiers decided"),
    "no_pending": ("Không có hạn xử lý nào chờ quyết định.", "No due date waits for a decision."),
    "signin_sso": ("Đăng nhập bằng tài khoản dùng chung của thành phố", "Sign in with the city's shared account"),
    "signin_local": ("Hoặc đăng nhập bằng tài khoản riêng của hopnhat", "Or sign in with a hopnhat account"),
    "signin_wait": ("Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau", "Too many failed sign-ins. Try again in"),
    "seconds": ("giây", "seconds"),
    "forbidden": ("Bạn không có quyền xem trang này.", "You may not open this page."),
    "not_available": (
        "Chức năng này chưa sẵn sàng trong bản cài đặt hiện tại.",
        "This feature is not available yet in this installation.",
    ),
    "language": ("Ngôn ngữ", "Language"),
    "search": ("Tìm", "Search"),
    "name": ("Tên", "Name"),
    "code": ("Mã", "Code"),
    "type": ("Loại", "Type"),
    "level": ("Cấp", "Level"),
    "parent": ("Trực thuộc", "Parent"),
    "valid_from": ("Hiệu lực từ", "Valid from"),
    "valid_to": ("Hiệu lực đến", "Valid to"),
    "on_date": ("Ngày", "On"),
    "none_found": ("Không tìm thấy.", "Nothing found."),
    "dossier_code": ("Mã hồ sơ", "Dossier code"),
    "procedure": ("Thủ tục", "Procedure"),
    "status": ("Trạng thái", "Status"),
    "received_at": ("Ngày tiếp nhận", "Received"),
    "due_at": ("Hạn giải quyết", "Due"),
    "finished_at": ("Ngày hoàn thành", "Finished"),
    "unit": ("Đơn vị", "Unit"),
    "center": ("Trung tâm", "Center"),
    "overdue": ("Quá hạn", "Overdue"),
    "on_time": ("Đúng hạn", "On time"),
    "applicant": ("Người nộp", "Applicant"),
    "lookup_hint": (
        "Nhập mã hồ sơ in trên giấy tiếp nhận. Trang này không hiển thị thông tin cá nhân.",
        "Type the dossier code printed on the receipt. No personal data is shown here.",
    ),
    "state": ("Tình trạng", "State"),
    "staff_ok": ("Có danh sách nhân sự", "Staff list"),
    "regulation_ok": ("Có quy chế hoạt động", "Regulation"),
    "equipment_ok": ("Đủ trang thiết bị", "Equipment"),
    "last_check": ("Lần kiểm tra cuối", "Last check"),
    "detail": ("Chi tiết", "Detail"),
    "system": ("Hệ thống", "System"),
    "opened_at": ("Bắt đầu", "Opened"),
    "closed_at": ("Kết thúc", "Closed"),
    "cause": ("Nguyên nhân", "Cause"),
    "notes": ("Ghi chú", "Notes"),
    "day": ("Ngày", "Day"),
    "checks": ("Số lần kiểm tra", "Checks"),
    "uptime_pct": ("Hoạt động (%)", "Uptime (%)"),
    "p50_ms": ("Độ trễ p50 (ms)", "Latency p50 (ms)"),
    "p95_ms": ("Độ trễ p95 (ms)", "Latency p95 (ms)"),
    "former_province": ("Tỉnh cũ", "Former province"),
    "criticality": ("Mức quan trọng", "Criticality"),
    "decision": ("Phương án", "Decision"),
    "target_system": ("Hệ thống đích", "Target system"),
    "target_date": ("Ngày hoàn thành dự kiến", "Target date"),
    "run": ("Lần chạy", "Run"),
    "started_at": ("Bắt đầu", "Started"),
    "extracted": ("Đã trích xuất", "Extracted"),
    "inserted": ("Thêm mới", "Inserted"),
    "updated": ("Cập nhật", "Updated"),
    "unchanged": ("Không đổi", "Unchanged"),
    "quarantined": ("Cách ly", "Quarantined"),
    "duplicates": ("Trùng lặp", "Duplicates"),
    "error": ("Lỗi", "Error"),
    "source_id": ("Mã bản ghi nguồn", "Source record id"),
    "reasons": ("Lý do", "Reasons"),
    "deadline": ("Hạn chót", "Deadline"),
    "responsible_unit": ("Đơn vị chủ trì", "Responsible unit"),
    "at_risk": ("Có nguy cơ trễ", "At risk"),
    "unit_code": ("Mã đơn vị hành chính", "Unit code"),
    "history": ("Quá trình xử lý", "Processing history"),
    "rate_limited": (
        "Bạn tra cứu quá nhiều lần. Vui lòng thử lại sau một phút.",
        "Too many lookups. Please try again in a minute.",
    ),
    "dossier_not_found": ("Không tìm thấy hồ sơ có mã này.", "No dossier has this code."),
    "address": ("Địa chỉ cũ", "Old address"),
    "address_hint": (
        "Ví dụ: Ấp 3, xã Vị Thanh, huyện Vị Thủy, tỉnh Hậu Giang",
        "Example: Ấp 3, xã Vị Thanh, huyện Vị Thủy, tỉnh Hậu Giang",
    ),
    "convert_button": ("Chuyển đổi", "Convert"),
    "new_address": ("Địa chỉ mới", "New address"),
    "confidence": ("Độ tin cậy", "Confidence"),
    "candidates": ("Các khả năng", "Candidates"),
    "replay": ("Xử lý lại", "Replay"),
    "replayed": ("Đã xử lý lại bản ghi.", "The record was replayed."),
    "reason": ("Lý do", "Reason"),
    "source": ("Nguồn", "Source"),
    "runs": ("Các lần đồng bộ", "Sync runs"),
    "accounting": ("Đối soát", "Accounting"),
    "verdicts": ("Kết luận chuyển đổi", "Cut-over verdicts"),
    "progress": ("Tiến độ hợp nhất", "Consolidation progress"),
    "systems_up": ("Hệ thống hoạt động", "Systems up"),
    "systems_down": ("Hệ thống ngừng", "Systems down"),
    "up": ("Hoạt động", "Up"),
    "down": ("Ngừng", "Down"),
    "unknown": ("Chưa rõ", "Unknown"),
    "uptime": ("Thời gian hoạt động", "Uptime"),
    "overdue_tasks": ("Nhiệm vụ quá hạn", "Overdue tasks"),
    "at_risk_tasks": ("Nhiệm vụ có nguy cơ trễ", "Tasks at risk"),
    "readiness": ("Mức sẵn sàng của trung tâm", "Centers' readiness"),
    "ready": ("Sẵn sàng", "Ready"),
    "not_ready": ("Chưa sẵn sàng", "Not ready"),
    "dossiers_total": ("Tổng số hồ sơ", "Dossiers"),
    "migrated": ("Đã chuyển đổi", "Migrated"),
    "needs_review": ("Cần rà soát", "Needs review"),
    "on_time_rate": ("Tỷ lệ đúng hạn", "On-time rate"),
    "all_centers": ("Tất cả trung tâm", "All centers"),
    "show": ("Xem", "Show"),
    "only_overdue": ("Chỉ hồ sơ quá hạn", "Overdue only"),
    "count": ("Số lượng", "Count"),
    "users": ("Tài khoản", "Accounts"),
    "page_not_found": ("Không tìm thấy trang.", "Page not found."),
    "error_input": ("Dữ liệu nhập không hợp lệ", "Invalid input"),
    "title": ("Nội dung", "Title"),
    "depends_on": ("Phụ thuộc", "Depends on"),
    "cutover_source": ("Nguồn dữ liệu chuyển đổi", "Cut-over source"),
    "cutover_verdict": ("Kết luận chuyển đổi", "Cut-over verdict"),
    "checked_at": ("Thời điểm kết luận", "Checked at"),
    "cutover_checked_at": ("Thời điểm kết luận", "Verdict checked at"),
    "no_verdicts": (
        "Chưa có kết luận chuyển đổi nào. Chạy `hopnhat cutover check --config sources.toml` để tính.",
        "No cut-over verdict yet. Run `hopnhat cutover check --config sources.toml` to compute them.",
    ),
    "verdict": ("Kết luận", "Verdict"),
    "open_incident_id": ("Sự cố đang mở", "Open incident"),
    "staff_count": ("Số nhân sự", "Staff"),
    "regulation": ("Quy chế hoạt động", "Operating regulation"),
    "missing_equipment": ("Thiết bị còn thiếu", "Missing equipment"),
    # Values shown in table cells (enumerations of the parts), looked up as "v_" + the value.
    "v_true": ("Có", "Yes"),
    "v_false": ("Không", "No"),
    "v_open": ("Đang mở", "Open"),
    "v_closed": ("Đã đóng", "Closed"),
    "v_todo": ("Chưa thực hiện", "To do"),
    "v_in_progress": ("Đang thực hiện", "In progress"),
    "v_done": ("Hoàn thành", "Done"),
    "v_blocked": ("Bị chặn", "Blocked"),
    "v_operating": ("Đang vận hành", "Operating"),
    "v_keep": ("Giữ lại", "Keep"),
    "v_merge": ("Hợp nhất", "Merge"),
    "v_migrate": ("Chuyển đổi", "Migrate"),
    "v_retire": ("Ngừng sử dụng", "Retire"),
    "v_low": ("Thấp", "Low"),
    "v_medium": ("Trung bình", "Medium"),
    "v_high": ("Cao", "High"),
    "v_critical": ("Rất quan trọng", "Critical"),
    "v_running": ("Đang chạy", "Running"),
    "v_failed": ("Thất bại", "Failed"),
    "v_skipped": ("Bỏ qua", "Skipped"),
    "v_province": ("Cấp tỉnh", "Province"),
    "v_commune": ("Cấp xã", "Commune"),
    "status_1": ("Mới đăng ký", "Submitted"),
    "status_2": ("Đã tiếp nhận", "Received"),
    "status_3": ("Từ chối", "Refused"),
    "status_4": ("Đang xử lý", "In process"),
    "status_5": ("Yêu cầu bổ sung", "Supplement requested"),
    "status_6": ("Chờ thực hiện nghĩa vụ tài chính", "Fees due"),
    "status_7": ("Công dân rút hồ sơ", "Withdrawn"),
    "status_8": ("Dừng xử lý", "Stopped"),
    "status_9": ("Đã xử lý xong", "Finished"),
    "status_10": ("Đã trả kết quả", "Returned"),
    # portal: dead letters and the Decision 766 report
    "portal": ("Đồng bộ Cổng DVCQG", "National portal sync"),
    "report766": ("Chỉ số Quyết định 766", "Decision 766 indicators"),
    "portal_backlog": ("Đang chờ gửi", "Waiting to be sent"),
    "portal_dead": ("Bản ghi bị từ chối", "Refused records"),
    "portal_dead_intro": (
        "Mỗi bản ghi bị từ chối giữ lại các bản ghi sau của cùng hồ sơ cho tới khi được sửa và gửi lại, hoặc bỏ qua.",
        "Each refused record holds back the later records of its dossier until it is mended and resent, or skipped.",
    ),
    "portal_event": ("Bản ghi", "Record"),
    "portal_dossier": ("Mã hồ sơ", "Dossier code"),
    "portal_mend": ("Sửa và gửi lại", "Mend and resend"),
    "portal_skip": ("Bỏ qua", "Skip"),
    "portal_field": ("Trường", "Field"),
    "portal_value": ("Giá trị đúng", "Correct value"),
    "portal_mended": ("Đã sửa", "Mended"),
    "portal_done": ("Đã ghi nhận", "Done"),
    "r766_intro": (
        "Tính như Cổng DVCQG tính từ dữ liệu đồng bộ (theo mô tả công khai, chưa được xác nhận chính thức).",
        "Computed as the national portal computes it from synced data (from a public description, unconfirmed).",
    ),
    "r766_center": ("Trung tâm", "Center"),
    "r766_city": ("Toàn thành phố", "Whole city"),
    "r766_received": ("Tiếp nhận", "Received"),
    "r766_finished": ("Đã giải quyết", "Finished"),
    "r766_late_supplements": ("Trễ do bổ sung > 1 lần", "Late: > 1 supplement request"),
    "r766_from": ("Từ ngày", "From"),
    "r766_to": ("Đến ngày", "To"),
    "r766_show": ("Xem", "Show"),
    "r766_unconfirmed": ("chưa xác nhận", "unconfirmed"),
    "r766_rules": ("Cách tính", "How it is computed"),
    "r766_national": (
        "Số liệu của Hệ thống thông tin báo cáo quốc gia không truy cập được từ đây: tỷ lệ đồng bộ tính trên số hồ "
        "sơ tại chỗ.",
        "The national reporting system's count cannot be reached from here: the synced share divides by the local "
        "count.",
    ),
    # --- issue 17, CLI: headers, counted nouns and messages of the commands' output for people ---------------------
    # A counted noun's English is "singular|plural" (cli_support.count); Vietnamese nouns have no plural.
    "cli_n_records": ("bản ghi", "record|records"),
    "cli_n_dossiers": ("hồ sơ", "dossier|dossiers"),
    "cli_n_open_dossiers": ("hồ sơ đang mở", "open dossier|open dossiers"),
    "cli_n_procedures": ("thủ tục", "procedure|procedures"),
    "cli_n_centers": ("trung tâm", "center|centers"),
    "cli_n_tasks": ("nhiệm vụ", "task|tasks"),
    "cli_n_systems": ("hệ thống", "system|systems"),
    "cli_n_probes": ("phép kiểm tra", "probe|probes"),
    "cli_n_events": ("bản ghi", "event|events"),
    "cli_n_codes": ("mã định danh", "code|codes"),
    "cli_n_entries": ("mục nhật ký", "entry|entries"),
    "cli_n_accesses": ("lần truy cập", "access|accesses"),
    "cli_n_addresses": ("địa chỉ", "address|addresses"),
    "cli_n_rows": ("dòng", "row|rows"),
    "cli_imported": ("Đã nhập {0}", "{0} imported"),
    "cli_code": ("Mã", "Code"),
    "cli_name": ("Tên", "Name"),
    "cli_procedure": ("Thủ tục", "Procedure"),
    "cli_due": ("Hạn giải quyết", "Due"),
    "cli_center": ("Trung tâm", "Center"),
    "cli_none_overdue": ("Không có hồ sơ quá hạn.", "No dossier is overdue."),
    "cli_none_due_soon": ("Không có hồ sơ sắp đến hạn.", "No dossier falls due soon."),
    "cli_reviews_intro": (
        "{0} sẽ có hạn giải quyết khác từ ngày {1}; hạn đã cấp KHÔNG đổi cho tới khi có quyết định "
        "(hopnhat calendar dossiers --pending):",
        "{0} would get another due date from {1}; their due dates are NOT changed until someone decides "
        "(hopnhat calendar dossiers --pending):",
    ),
    "cli_and_more": ("... và {0} hồ sơ khác", "... and {0} more"),
    "cli_due_given": ("Hạn đã cấp", "Due date given"),
    "cli_due_new": ("Hạn theo lịch mới", "On the new calendar"),
    "cli_decision": ("Quyết định", "Decision"),
    "cli_review_pending": ("Chờ quyết định", "Waiting"),
    "cli_review_moved": ("Đã chuyển hạn", "Moved"),
    "cli_review_kept": ("Giữ hạn đã cấp", "Kept"),
    "cli_review_superseded": ("Không còn áp dụng", "Superseded"),
    "cli_no_reviews": ("Không có hạn giải quyết nào chờ quyết định.", "No due date waits for a decision."),
    "cli_source_operator": ("Đơn vị vận hành", "Operator"),
    "cli_source_bundled": ("Bảng lịch nghỉ, làm bù (đã kiểm tra)", "Civil-service table (checked)"),
    "cli_source_library": ("Thư viện holidays", "holidays library"),
    "cli_unconfirmed": ("chưa xác nhận", "unconfirmed"),
    "cli_on_time": ("Đúng hạn", "On time"),
    "cli_late": ("Trễ hạn", "Late"),
    "cli_on_time_rate": ("Tỷ lệ đúng hạn", "On-time rate"),
    "cli_avg_days": ("Số ngày TB", "Avg days"),
    "cli_online": ("Trực tuyến", "Online"),
    "cli_synced": ("Đã đồng bộ", "Synced"),
    "cli_v_up": ("Hoạt động", "Up"),
    "cli_v_down": ("Ngừng", "Down"),
    "cli_v_unknown": ("Chưa đo", "Not measured"),
    "cli_v_maintenance": ("Đang bảo trì", "In maintenance"),
    "cli_v_district": ("Cấp huyện", "District"),
    "cli_probe": ("Phép kiểm tra", "Probe"),
    "cli_probes_run": ("Đã chạy {0}", "{0} run"),
    "cli_loaded": ("Đã nạp {0}", "{0} loaded"),
    "cli_example": ("dữ liệu VÍ DỤ", "EXAMPLE data"),
    "cli_maintenance_recorded": ("Đã ghi lịch bảo trì {0} của {1}", "Maintenance window {0} for {1} recorded"),
    "cli_heartbeat_recorded": ("Đã ghi tín hiệu hoạt động của {0}", "Heartbeat of {0} recorded"),
    "cli_province": ("Tỉnh cũ", "Former province"),
    "cli_flags": ("Cảnh báo", "Flags"),
    "cli_overdue": ("QUÁ HẠN", "OVERDUE"),
    "cli_at_risk": ("sắp đến hạn", "at risk"),
    "cli_no_tasks": ("Không có nhiệm vụ nào.", "No task."),
    "cli_centers_seeded": ("Đã tạo {0}; đã điền {1}", "{0} created; {1} filled in"),
    "cli_centers_without_code": (
        "{0} chưa có mã định danh: chạy `hopnhat agencies issue`, rồi chạy lại `hopnhat centers seed`",
        "{0} have no agency code yet: run `hopnhat agencies issue`, then `hopnhat centers seed` again",
    ),
    "cli_agency_code": ("Mã định danh", "Agency code"),
    "cli_level": ("Cấp", "Level"),
    "cli_address": ("Địa chỉ", "Address"),
    "cli_ready": ("Sẵn sàng", "Ready"),
    "cli_staff": ("Nhân sự", "Staff"),
    "cli_regulation": ("Quy chế", "Regulation"),
    "cli_equipment": ("Thiết bị", "Equipment"),
    "cli_item": ("Hạng mục", "Item"),
    "cli_ok": ("Đủ", "Done"),
    "cli_missing": ("Thiếu", "Missing"),
    "cli_centers_ready": ("{0}/{1} sẵn sàng", "{0} of {1} ready"),
    "cli_delivered": ("Đã gửi {0}", "{0} delivered"),
    "cli_day_removed": (
        "{0}: đã xóa dòng của đơn vị vận hành (trước đó: {1})",
        "{0}: operator's row removed (was {1})",
    ),
    "cli_requeued": ("Đã đưa lại vào hàng đợi {0}", "{0} queued again"),
    "cli_value": ("Giá trị", "Value"),
    "cli_pending": ("Đang chờ gửi", "Pending"),
    "cli_pending_detail": ("{0} (đến lượt gửi {1}, đang thử lại {2})", "{0} (due now {1}, retrying {2})"),
    "cli_lag": ("Độ trễ (bản ghi chờ lâu nhất)", "Lag (oldest pending event)"),
    "cli_dead": ("Bị từ chối", "Dead letters"),
    "cli_dead_detail": ("{0} (hồ sơ bị chặn: {1})", "{0} (dossiers blocked: {1})"),
    "cli_delivered_total": ("Đã gửi", "Delivered"),
    "cli_failed": ("Lỗi", "Failed"),
    "cli_last_error": ("Lỗi gần nhất", "Last error"),
    "cli_relay": ("Tiến trình gửi", "Relay"),
    "cli_last_seen": ("Hoạt động lần cuối", "Last seen"),
    "cli_no_dead": ("Không có bản ghi bị từ chối.", "No dead events."),
    "cli_id": ("Số", "Id"),
    "cli_seq": ("Thứ tự", "Seq"),
    "cli_kind": ("Loại", "Kind"),
    "cli_attempts": ("Số lần gửi", "Attempts"),
    "cli_in_sync": ("khớp", "in sync"),
    "cli_different": ("KHÁC NHAU", "DIFFERENT"),
    "cli_v_resolved": ("Đã xử lý", "Resolved"),
    "cli_v_ignored": ("Bỏ qua", "Ignored"),
    "cli_source": ("Nguồn", "Source"),
    "cli_count_extracted": ("Đọc được", "Read"),
    "cli_count_inserted": ("Thêm mới", "New"),
    "cli_count_updated": ("Cập nhật", "Updated"),
    "cli_count_unchanged": ("Không đổi", "Same"),
    "cli_count_quarantined": ("Cách ly", "Quarantined"),
    "cli_count_duplicates": ("Trùng", "Duplicates"),
    "cli_rec_source_rows": ("Dòng ở nguồn", "Source rows"),
    "cli_rec_store_rows": ("Dòng đã nạp", "Store rows"),
    "cli_rec_missing": ("Thiếu", "Missing"),
    "cli_rec_extra": ("Thừa", "Extra"),
    "cli_rec_changed": ("Khác", "Changed"),
    "cli_rec_quarantined_open": ("Đang cách ly", "Quarantined"),
    "cli_not_ready": ("CHƯA SẴN SÀNG", "NOT READY"),
    "cli_verdict_ready": ("SẴN SÀNG", "READY"),
    "cli_run": ("Lần chạy", "Run"),
    "cli_no_runs": ("Chưa có lần chạy nào.", "No run yet."),
    "cli_started": ("Bắt đầu", "Started"),
    "cli_reasons": ("Lý do", "Reasons"),
    "cli_no_quarantine": ("Không có bản ghi cách ly nào.", "No quarantined record."),
    "cli_still_quarantined": ("Còn cách ly: {0}", "Still quarantined: {0}"),
    "cli_portal_check": (
        "{0}: tại đây {1}, trên Cổng {2} ({3}); {4} chưa gửi",
        "{0}: here {1}, on the portal {2} ({3}); {4} not yet delivered",
    ),
}


_DAY = r"(\d{4}-\d{2}-\d{2})"

REASONS: tuple[tuple[str, str], ...] = (
    # system status (continuity.service.system_status)
    (r"no checks yet", "chưa có lần kiểm tra nào"),
    (r"all probes pass", "mọi phép kiểm tra đều đạt"),
    # cut-over verdicts (sync.cutover.check)
    (r"never synced", "chưa đồng bộ lần nào"),
    (r"changes not yet synced: (\d+) missing, (\d+) changed", "còn thay đổi chưa đồng bộ: thiếu {0}, khác {1}"),
    (r"(\d+) quarantined records not resolved", "{0} bản ghi cách ly chưa được xử lý"),
    (r"(\d+) open dossiers whose unit has no successor", "{0} hồ sơ đang mở có đơn vị không có đơn vị kế thừa"),
    (r"sync lag above ([\d.]+) minutes", "độ trễ đồng bộ vượt {0} phút"),
    # transition plan (continuity.plan.evaluate)
    (rf"deadline {_DAY} passed", "đã quá hạn chót {0}"),
    (r"deadline in (-?\d+) days", "còn {0} ngày đến hạn chót"),
    (r"depends on (.+), which is late", "phụ thuộc nhiệm vụ {0} đang bị trễ"),
    (
        r"cut-over of (.+): no verdict yet \(run `hopnhat cutover check`\)",
        "chuyển đổi nguồn {0}: chưa có kết luận (chạy `hopnhat cutover check`)",
    ),
    (
        r"cut-over of (.+?) not ready \(checked ([^)]+)\): (.*)",
        "chuyển đổi nguồn {0} chưa sẵn sàng (kết luận lúc {1}): {2*}",
    ),
    # readiness of the service centers (continuity.centers.readiness)
    (rf"staff list recorded after {_DAY}", "danh sách nhân sự lập sau ngày {0}"),
    (rf"no staff list \(due {_DAY}\)", "chưa có danh sách nhân sự (hạn {0})"),
    (rf"no operating regulation \(due {_DAY}\)", "chưa có quy chế hoạt động (hạn {0})"),
    (rf"regulation (.+) issued {_DAY}, after {_DAY}", "quy chế {0} ban hành ngày {1}, sau hạn {2}"),
    (r"missing equipment: (.*)", "thiếu trang thiết bị: {0}"),
)
"""Reasons the services give in English, as whole-text patterns with their Vietnamese template. ``{n}`` is the
n-th group (an ISO date is shown dd/mm/yyyy); ``{n*}`` is a group that holds further reasons joined by "; ", each
translated in turn. Text that matches no pattern (a source's own error message) is shown as it is."""

_REASONS = tuple((re.compile(pattern), template) for pattern, template in REASONS)
_SLOT = re.compile(r"\{(\d+)(\*?)\}")
_ISO_DAY = re.compile(_DAY)


def translate_reason(text: str, lang: str) -> str:
    """A reason from a service in the page's language (unchanged in English)."""
    if lang == "en":
        return text
    for pattern, template in _REASONS:
        match = pattern.fullmatch(text)
        if match is None:
            continue

        def fill(slot: re.Match[str], match: re.Match[str] = match) -> str:
            value = match.group(int(slot.group(1)) + 1)
            if slot.group(2):
                return "; ".join(translate_reason(part, lang) for part in value.split("; "))
            if _ISO_DAY.fullmatch(value):
                return f"{value[8:10]}/{value[5:7]}/{value[0:4]}"
            return value

        return _SLOT.sub(fill, template)
    return text


def pick_lang(query: str | None, cookie: str | None) -> str:
    for value in (query, cookie):
        if value in LANGS:
            return value
    return DEFAULT_LANG


def translate(key: str, lang: str) -> str:
    """The text for ``key``; an unknown key shows itself so a missing translation is visible, not fatal."""
    pair = TEXTS.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


__all__ = ["DEFAULT_LANG", "LANGS", "REASONS", "TEXTS", "pick_lang", "translate", "translate_reason"]


from hopnhat.web.officer_texts import OFFICER_TEXTS  # noqa: E402  (the officer's pages keep their texts apart)

TEXTS.update({k: v for k, v in OFFICER_TEXTS.items() if k not in TEXTS})
