"""Financial and cost data: expedite options per lane and mode, chargeback rules per customer."""
