"""Diagnose SNAT port exhaustion in Azure API Management from gateway logs.

The data path runs one way: parameters -> rendered KQL (``queries``) -> a source
(``sources``) -> DataFrames -> the analysis modules -> ``findings`` -> notebook/HTML.
"""

__version__ = "0.1.0"
