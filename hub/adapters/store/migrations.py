"""Schema migrations: ``NNNN_name.sql`` written once for both dialects with type placeholders,
plus optional ``NNNN_name.<dialect>.sql`` with what only one dialect has (triggers, functions)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

_TYPES = {
    "sqlite": {
        "{ID}": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "{MONEY}": "TEXT",
        "{TS}": "TEXT",
        "{DATE}": "TEXT",
    },
    "postgres": {
        "{ID}": "BIGSERIAL PRIMARY KEY",
        "{MONEY}": "NUMERIC(20, 2)",
        "{TS}": "TIMESTAMPTZ",
        "{DATE}": "DATE",
    },
}

LEDGER_DDL = "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


def migrations_for(dialect: str) -> list[Migration]:
    """Every migration in order, already rendered for ``dialect``."""
    folder = resources.files("hub.adapters.store") / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql") and p.name.count(".") == 1)
    out: list[Migration] = []
    for name in names:
        sql = (folder / name).read_text(encoding="utf-8")
        for placeholder, concrete in _TYPES[dialect].items():
            sql = sql.replace(placeholder, concrete)
        specific = folder / name.replace(".sql", f".{dialect}.sql")
        if specific.is_file():
            sql += "\n" + specific.read_text(encoding="utf-8")
        out.append(Migration(name.removesuffix(".sql"), sql))
    return out
