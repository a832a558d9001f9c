"""Where a rule's effective weights come from: the YAML, or an override written through the API.

A module of its own because both the state controller and the API's models
name it, and the models must not import the controller.
"""

from __future__ import annotations

from typing import Literal

WeightSource = Literal["yaml", "override"]
