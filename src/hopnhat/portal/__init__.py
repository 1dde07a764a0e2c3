"""National Public Service Portal (Cổng Dịch vụ công quốc gia): the outbox relay, the portal client, the field
mapping and a simulator of the portal that speaks real HTTP."""
