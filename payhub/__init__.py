"""PayHub's composition root: builds processes from settings (``bootstrap``), serves them (``app``,
``cli``) and runs the workers of the production topology (``workers``). Nothing in ``hub/`` or in a
service package imports this package."""
