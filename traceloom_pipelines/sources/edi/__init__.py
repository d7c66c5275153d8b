"""EDI with trading partners: X12 850/855/856 and EDIFACT ORDERS/ORDRSP/DESADV drops, envelope
checks, and 997/CONTRL functional acknowledgments for the senders (seed 001)."""
