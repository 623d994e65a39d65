"""Fleets: a file naming many incidents, rendered side by side with an index by impact."""
