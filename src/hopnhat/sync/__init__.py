"""Consolidation of the former provinces' one-stop systems into the store: connectors, the sync engine, the
quarantine, reconciliation and the cut-over gate."""
