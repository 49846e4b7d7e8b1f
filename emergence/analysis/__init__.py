"""The pure analysis: metrics, scores, the verdict, series, the mirage pairs, re-scoring, simulation."""
