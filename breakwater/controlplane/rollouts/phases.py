"""The words of a rollout's life: its phases, the operator's commands, an analysis's verdicts.

Apart from `engine` so that the API's models and the operations table can
name them without loading the rollout code (`breakwater status` imports them).
"""

from __future__ import annotations

from typing import Literal

Phase = Literal["Progressing", "Paused", "Promoted", "RolledBack", "Aborted"]
PHASES: tuple[Phase, ...] = ("Progressing", "Paused", "Promoted", "RolledBack", "Aborted")
TERMINAL: frozenset[Phase] = frozenset({"Promoted", "RolledBack", "Aborted"})
ShownPhase = Literal["Pending", Phase]
"""What status shows: `Pending` is a rollout served but not started (waiting for its
pre-rollout webhook or its driver), which has no progress saved yet."""
Command = Literal["promote", "pause", "resume", "abort", "retry"]
COMMANDS: tuple[Command, ...] = ("promote", "pause", "resume", "abort", "retry")
Verdict = Literal["passed", "failed", "inconclusive"]
