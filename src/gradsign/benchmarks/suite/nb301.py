"""NAS-Bench-301 (Siems et al., 2020) on the DARTS space, as NASLib's zero-cost file samples it: CIFAR-10 only."""

from __future__ import annotations

from gradsign.benchmarks.registry import register_benchmark
from gradsign.benchmarks.suite._naslib_sample import NaslibSampleBenchmark


@register_benchmark("nb301", aliases=("nasbench301",))
class NB301Benchmark(NaslibSampleBenchmark):
    """NASLib's NB301 records: the NB301 surrogate's predicted accuracy of DARTS genotypes."""

    space = "darts"
    description = "NAS-Bench-301 (DARTS space) genotypes sampled in NASLib's zero-cost file (surrogate accuracy)"
    naslib_file = "zc_nasbench301.json"

    def no_truth_message(self, arch: str, source: str) -> str:
        """Name the NB301 rule a genotype of the full DARTS space breaks, where it breaks one."""
        from pathlib import Path

        from gradsign.errors import ArchError
        from gradsign.spaces.darts import nb301_violation

        try:
            why = nb301_violation(arch)
        except ArchError:
            why = None
        if why is not None:
            return (f"no ground truth for darts arch {arch!r}: it is outside the NAS-Bench-301 space of "
                    f"{Path(source).name} ({why})")
        return super().no_truth_message(arch, source)
