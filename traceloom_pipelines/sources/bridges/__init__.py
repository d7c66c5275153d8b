"""The platform's own bridges (MQTT, OPC-UA) as a source: their health samples."""
