"""The HTTP API, one module per resource; each has ``register(app, services)``.

Kept empty: a function that imports one route module (the webhook) must not import them all.
"""
