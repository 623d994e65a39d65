"""Whole-kit behaviour: scenarios graded against their truth, unknowns varied, bad and hostile input end to end."""
