"""Dashboard documents: what each role may see, computed from the store."""
