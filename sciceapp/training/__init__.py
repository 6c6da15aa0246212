"""training layer (see ARCHITECTURE.md)."""
