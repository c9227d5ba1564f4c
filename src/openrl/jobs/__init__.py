"""Jobs: what a console script runs once its configuration is composed and validated.

:mod:`.ppo` trains agents (``experiment=ppo``), :mod:`.meta` meta-trains a learned optimizer
(``mode=meta``), :mod:`.evaluate` runs ``openrl-eval``'s (env, optimizer) pairs. Each takes plain validated
config objects from :mod:`openrl.cli` and trains through the one seed runner, :func:`openrl.ppo.run_seeds`.
"""
