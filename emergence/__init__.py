"""emergence: is a sharp jump in capability a property of the models, or of the metric?"""
__version__ = "0.1.0"

from emergence.api import compare, data_issues, observations, series, sources, summary, to_csv  # noqa: E402

__all__ = ["observations", "sources", "data_issues", "series", "compare", "summary", "to_csv"]
