"""Parameter types of the HTTP API that refuse what a lax parser would guess at: ids written only as plain digits
(not ``1.0``, ``+1`` or ``1_000``) and within Postgres' bigint, and finite numbers (no NaN or infinity)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field

BIGINT_MAX = 2**63 - 1
MAX_LIST_ITEMS = 1000  # media ids in one search
CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]{0,18})")


def canonical_int(value: object) -> object:
    """A query or path value as written must be plain decimal digits; JSON numbers are left to strict validation.

    >>> canonical_int("42"), canonical_int(7)
    ('42', 7)
    """
    if isinstance(value, str) and not CANONICAL_INT.fullmatch(value):
        raise ValueError(f"{value[:30]!r} is not a whole number written in plain digits (e.g. 42)")
    return value


# query and path parameters
Id = Annotated[int, BeforeValidator(canonical_int), Field(ge=1, le=BIGINT_MAX)]
Count = Annotated[int, BeforeValidator(canonical_int), Field(ge=-BIGINT_MAX, le=BIGINT_MAX)]
# JSON bodies: a JSON integer, never 1.0, "1" or true
StrictId = Annotated[int, Field(strict=True, ge=1, le=BIGINT_MAX)]
StrictCount = Annotated[int, Field(strict=True, ge=-BIGINT_MAX, le=BIGINT_MAX)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
