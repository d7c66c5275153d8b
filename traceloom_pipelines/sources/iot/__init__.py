"""IoT sensors as a source: factory and transport sensor readings (000 §3.1, 001 INT-001)."""
