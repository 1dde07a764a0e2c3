"""Notices to citizens (thông báo cho công dân): receipt, supplement request, refusal, delay and result ready, by
e-mail, SMS and Zalo, through the transactional outbox (``hopnhat.store.outbox.enqueue_notices``), each channel with
its own relay so that one provider's outage holds up neither the others nor the portal."""
