"""Powertools owns the "quarry" logger that the Chalice app shares by name: loading the app again (as
`chalice local` and the local stack do) must not turn it down to ERROR, which silenced every INFO and
WARNING line of the worker whenever stdout was not the stream the first handler was made with."""

from __future__ import annotations

import contextlib
import io
import logging

from chalicelib.observability import logger


def test_loading_the_app_again_keeps_the_service_loggers_level_and_output() -> None:
    from devstack.stage import load_app

    quarry = logging.getLogger("quarry")
    level, propagate = quarry.level, quarry.propagate
    with contextlib.redirect_stdout(io.StringIO()):
        load_app("local")
    assert (quarry.level, quarry.propagate) == (level, propagate)
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        logger.info("still heard")
    finally:
        logger.removeHandler(handler)
    assert "still heard" in captured.getvalue()
