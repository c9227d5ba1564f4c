"""The command line: every console script, and the only place (with :mod:`openrl.config`) that uses Hydra.

``openrl-train`` (:mod:`.train`), ``openrl-eval`` and ``openrl-report`` (:mod:`.eval`),
``openrl-weights`` and ``openrl-import-weights`` (:mod:`.tools`), ``openrl-dashboard`` (:mod:`.dashboard`).
Each composes and validates its configuration, then hands validated objects to a job in
:mod:`openrl.jobs`; nothing below this layer composes again.
"""
