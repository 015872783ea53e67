"""Entry points: how the outside world reaches the services (HTTP here; Pub/Sub beside it)."""
