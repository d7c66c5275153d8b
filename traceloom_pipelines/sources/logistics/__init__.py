"""Logistics milestones: the canonical milestone feed and carriers' DCSA Track & Trace events."""
