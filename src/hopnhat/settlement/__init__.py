"""Settlement of dossiers under the two-level model: procedure catalogue, processes, working-day calendar,
intake with routing, the status workflow, the public lookup and Decision 766 reports."""
