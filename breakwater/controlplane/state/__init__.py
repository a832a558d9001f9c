"""Durable state: policy sources, the controller that turns them into a PolicySet, the stores."""
