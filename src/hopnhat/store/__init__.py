"""The consolidated store: one ``Dossier`` table that serves both consolidation (sync) and settlement.

A migrated dossier keeps its code, its original unit and agency, gains today's responsible unit and center, and
continues its lifecycle here. Status changes are written together with an outbox event (``store.outbox``) in the
same transaction, so the national portal relay can deliver them without losing or doubling any.
"""
