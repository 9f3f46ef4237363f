"""NAS-Bench-101 (Ying et al., ICML 2019) as NASLib's zero-cost file samples it: CIFAR-10 only."""

from __future__ import annotations

from gradsign.benchmarks.registry import register_benchmark
from gradsign.benchmarks.suite._naslib_sample import NaslibSampleBenchmark


@register_benchmark("nb101", aliases=("nasbench101",))
class NB101Benchmark(NaslibSampleBenchmark):
    """NASLib's NB101 records: the benchmark's 108-epoch accuracy of one training repeat per record."""

    space = "nb101"
    description = "NAS-Bench-101 cells sampled in NASLib's zero-cost file (108-epoch accuracy)"
    naslib_file = "zc_nasbench101.json"
