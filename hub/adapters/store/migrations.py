"""Schema migrations: ``NNNN_name.sql`` written once for both dialects with type placeholders,
plus optional ``NNNN_name.<dialect>.sql`` with what only one dialect has (triggers, functions)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from hub.adapters.store._conn import Conn

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


async def apply_pending(conn: Conn, dialect: str, split: Callable[[str], list[str]], applied_at: object) -> list[str]:
    """Apply, inside the caller's transaction, every migration ``schema_migrations`` lacks; returns their names.

    ``split`` cuts a rendered script into the statements the driver runs one at a time; ``applied_at``
    is the ledger's time stamp as the dialect stores it.
    """
    await conn.execute(LEDGER_DDL)
    done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
    applied: list[str] = []
    for m in migrations_for(dialect):
        if m.name in done:
            continue
        for statement in split(m.sql):
            await conn.execute(statement)
        await conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)", m.name, applied_at)
        applied.append(m.name)
    return applied


# What a migration creates that a reset must drop; indexes, triggers and sequences go with their tables.
_CREATED = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(TABLE|VIEW|FUNCTION|TYPE)\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?([A-Za-z_][A-Za-z0-9_]*)",
    re.IGNORECASE,
)


def created_objects(dialect: str) -> list[tuple[str, str]]:
    """``(kind, name)`` of every table, view, function and type the migrations create, in creation order."""
    found: list[tuple[str, str]] = []
    for m in migrations_for(dialect):
        for kind, name in _CREATED.findall(m.sql):
            if (kind.upper(), name) not in found:
                found.append((kind.upper(), name))
    return found


async def drop_all(conn: Conn, dialect: str) -> list[str]:
    """Drop, inside the caller's transaction, everything PayHub's migrations created and the migration ledger,
    newest first (a table before the tables it references); returns the names dropped. Nothing else in the
    database or schema is touched: objects are named from the migration files, never listed from the catalog."""
    cascade = " CASCADE" if dialect == "postgres" else ""
    dropped: list[str] = []
    for kind, name in [*reversed(created_objects(dialect)), ("TABLE", "schema_migrations")]:
        await conn.execute(f'DROP {kind} IF EXISTS "{name}"{cascade}')
        dropped.append(name)
    return dropped
