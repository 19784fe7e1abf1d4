"""SLA verification against a live Triton: `modelyard perf`, memory truth and the
findings of `validate --live`.

- figures.py: the pure arithmetic (percentiles, statistics deltas, verdicts, drift);
- load.py: the load generator (threads, bounded by request count and time);
- processes.py: the memory of a model's backend processes on this machine;
- measure.py: one run against a server, end to end;
- findings.py: what stored measurements say (validate --live, place --calibrated, report).
"""

from modelyard.perf.measure import PerfOptions, PerfReport, PerfSubject, measure

__all__ = ["PerfOptions", "PerfReport", "PerfSubject", "measure"]
