"""The kit's tests; ``paths``, ``oracles`` and ``kusto_language`` are helpers shared by them, not tests."""
