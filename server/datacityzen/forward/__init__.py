"""Forwarding a device's readings to Sensor.Community and openSenseMap, in their formats.

`formats.py` builds the peers' bodies (pure), `senders.py` posts them (stdlib HTTP), the durable outbox
lives in `store/forward_outbox.py`, and `runner.py` fills the outbox from stored readings and drains it
with retries and back-off. See docs/ecosystem.md.
"""
