"""Meta-training: evolution strategies (evosax) around the PPO inner loop."""
