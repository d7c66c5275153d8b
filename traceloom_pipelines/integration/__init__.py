"""Talking to source systems over HTTP: the resilient client, auth and the circuit breaker
(003 §7). Pull connectors (``sources/<system>/connector.py``) build on it."""
