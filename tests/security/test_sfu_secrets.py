"""The join-token secret rule at the SFU (one rule with the gateway, common to issue 13): outside
PARLEY_ENV=development the SFU refuses to start with an empty secret, the development placeholder
(anyone who reads the repository could forge tokens with it) or one under 32 characters."""

from __future__ import annotations

import pytest
from sfu_attacks import SECRET, forge_with_dev_placeholder, local_sfu, sfu_env, sfu_exit, sfu_skip_reason

pytestmark = pytest.mark.skipif(sfu_skip_reason() is not None, reason=sfu_skip_reason() or "")


@pytest.mark.parametrize("env", ["production", "staging"])
@pytest.mark.parametrize("secret", ["", "dev-secret-change-me", "short-secret-0123456789"])
def test_sfu_refuses_a_weak_join_token_secret_outside_development(env: str, secret: str) -> None:
    code, log = sfu_exit(
        f"secret-{env}", sfu_env(0, "redis://127.0.0.1:1/0", PARLEY_ENV=env, JOIN_TOKEN_SECRET=secret)
    )
    assert code == 2, f"the SFU started with PARLEY_ENV={env} and secret {secret!r}:\n{log[-2000:]}"
    assert "JOIN_TOKEN_SECRET" in log


async def test_token_forged_with_the_dev_placeholder_is_refused() -> None:
    """Outside development the SFU starts with a real secret, and a placeholder-signed token is refused."""
    with local_sfu("forge", PARLEY_ENV="staging", JOIN_TOKEN_SECRET=SECRET) as sfu:
        result = await forge_with_dev_placeholder(sfu.target())
    assert result.refused, result.detail
