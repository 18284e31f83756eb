"""Benchmark torch.distributed collectives over opennetworks next to gloo and MPI.

python -m opennetworks.bench -n 2,4 --compare gloo [--json]
onet bench --framework torch --compare gloo        # the same, from the onet CLI
"""

from ._cli import main

__all__ = ["main"]
