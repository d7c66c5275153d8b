"""The push gateway (``traceloom gateway``): systems that push — ERP work-order webhooks, HR
attendance, factory milestones, worker QR scans — hand their payloads to landing as drop files.

``app.py`` the Starlette app and its endpoints, ``auth.py`` clients and API keys from the
environment, ``ratelimit.py`` per-client token buckets, ``endpoints.py`` JSON schemas and drop
folders, ``store.py`` idempotency and duplicate state (SQLite).
"""
