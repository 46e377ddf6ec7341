"""Back office: reconciliation with AMK, the review workflow, look-ups and the operations console
(served by the gateway process)."""
