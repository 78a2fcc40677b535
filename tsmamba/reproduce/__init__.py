"""Reproduce the paper table: a committed suite of cells, run as processes across GPUs, resumed, summarised.

One idea per module, in the order data flows:

- ``cell``: one (dataset, model, lookback, horizon, seed, variant) run and its id;
- ``suite``: a TOML suite file -> cells; ``configs``: the config a cell resolves to (for stale-row checks);
- ``worker``: runs one cell in its own process with the benchmark's code, writes its row;
- ``process``: starts a worker with its GPUs and streams its log; ``scheduler``: slots per GPU, budget, order;
- ``progress``: live display or plain per-epoch lines; ``store``: the results folder;
- ``runner``: suite -> plan (skip recorded cells) -> scheduler -> record; ``summary``: table.md and plots,
  beside the numbers in ``published``.

Entry point: ``tsmamba reproduce SUITE --out DIR [--budget-minutes M]``; from Python,
``tsmamba.reproduce.runner.run_suite(load_suite(path), out)`` then ``summary.write_summary(out)``.
"""
