"""Diagnose SNAT port exhaustion in Azure API Management from gateway logs.

The data path runs one way, and the folders are its layers: parameters -> rendered KQL (``query``) -> a
source (``sources``) -> DataFrames -> ``diagnosis`` -> findings (``investigation``) -> words and figures
(``postmortem``) -> notebook and HTML (``report``); ``explorer`` and ``fleet`` sit on top, ``cli`` parses.
"""

__version__ = "0.1.0"
