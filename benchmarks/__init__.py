"""Speed and memory of tinygrad_lr against hand-written NumPy; run
``python -m benchmarks.run`` (see ``benchmarks/README.md``)."""
