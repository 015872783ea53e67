"""Entry points: how messages and requests from outside reach the services."""
