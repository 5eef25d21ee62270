"""The one moto release whose internals devstack's moto patches (moto_sqs.py, moto_dynamodb.py) were
written against and checked on."""

from __future__ import annotations

PATCHED_MOTO_VERSION = "5.2.5"


def require_patched_moto(patch: str, service: str) -> None:
    import moto

    if moto.__version__ != PATCHED_MOTO_VERSION:
        raise RuntimeError(
            f"{patch} patches moto {PATCHED_MOTO_VERSION}'s {service} internals; moto is "
            f"{moto.__version__}: check the patched methods still exist and mean the same, then update it"
        )
