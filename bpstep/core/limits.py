"""The budgets of a run (README, "Limits"): a module of their own, without numpy, so that the
command line builds its flags before anything heavy is imported (a ctrl+c then is exit 130)."""

from __future__ import annotations

from bpstep.core.records import record


@record
class Limits:
    """Budgets checked before work is done (see README, "Limits")."""

    max_file_bytes: int = 1_000_000
    max_statements: int = 100_000
    max_elements: int = 4_000_000  # elements of any one array (32 MB of float64)
    max_matmul_work: int = 1_000_000_000  # multiply-adds of one matrix product
    max_depth: int = 100  # nesting depth of one expression
    max_dims: int = 16  # dimensions of any one array
    max_total_elements: int = 24_000_000  # all values a run keeps (192 MB of float64)
    max_total_work: int = 10_000_000_000  # multiply-adds of all matrix products of a run
    max_circuit_size: int = 150_000  # the circuit's pieces to lay out and label (CircuitView.size)


DEFAULT_LIMITS = Limits()
