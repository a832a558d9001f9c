"""Progressive delivery: Rollouts that watch the fleet and roll back by themselves."""
