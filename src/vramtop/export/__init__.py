"""Consumers of frames that leave the terminal: JSON, CSV, Prometheus, webhooks."""

#: `vramtop export`'s port: outside Prometheus' 9100-9999 default-port allocations
#: (docs/export.md says why).
DEFAULT_PORT = 19400
