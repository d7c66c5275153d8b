"""The review desk (issue #13 §7, 003 §7.2): a web page where a tenant's integration admins review
dead letters and quarantined records — filter them, retry, edit and retry, mark resolved or
discard (each action audited in ``audit.review_actions``) — and read failure rates and mean time
to resolution per integration. ``traceloom review-desk`` serves it (:mod:`.app`).
"""
