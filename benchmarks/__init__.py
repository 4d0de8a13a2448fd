"""rhbatch's benchmarks: each scenario measures one claim, side by side in one run.

Run ``python -m benchmarks [SCENARIO...] [--quick]``; see docs/performance.md.
"""
