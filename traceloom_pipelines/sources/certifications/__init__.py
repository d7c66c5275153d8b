"""Sustainability and certification data: certificates, audits and required certificate types."""
