"""A served process moves what start-up made into the collector's permanent generation (``gc.freeze``),
so full collections under thousands of open streams do not walk it; apps built by tests do not."""

from __future__ import annotations

import gc
from pathlib import Path

from payhub.app import create_app
from tests.conftest import make_settings


async def test_a_served_app_freezes_what_start_up_made(tmp_path: Path) -> None:
    gc.unfreeze()
    app = create_app(make_settings(f"sqlite:///{tmp_path}/x.db"), background=False)
    app.state.freeze_gc = True  # as payhub.cli sets it for uvicorn
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


async def test_an_app_built_without_the_flag_freezes_nothing(tmp_path: Path) -> None:
    gc.unfreeze()
    app = create_app(make_settings(f"sqlite:///{tmp_path}/x.db"), background=False)
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0
