"""The pure core of bpstep: scenario loading, the expression walker and the step engine.

Nothing under this package may import textual or rich (tests/test_purity.py checks it).
"""
