"""Continuity of the merged city's services: systems inventory, health probes, the transition plan, the centers."""
