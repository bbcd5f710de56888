"""The base of every table of the config schema: frozen, and no key it does not know."""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ConfigDict, model_validator

from appliance.config.values import fail_at


class Section(BaseModel):
    """One TOML table. An unknown key is an error naming it, with the nearest known key:
    a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: object) -> object:
        # Before the values: a misspelt key explains a "missing" one better than that does.
        if isinstance(data, dict):
            known = tuple(cls.model_fields)
            for name in data:
                if name not in known:
                    hint = difflib.get_close_matches(str(name), known, n=1)
                    suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
                    fail_at((str(name),), f"unknown key{suggestion}", data[name])
        return data
