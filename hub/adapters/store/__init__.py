"""Store adapters: one SQL store, two dialects (SQLite for the embedded default, PostgreSQL)."""
