"""Evaluation and paper reproduction: ``openrl-eval``, rliable statistics, figures, ``openrl-report``."""
