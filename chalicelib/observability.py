"""Structured JSON logs and metrics (Powertools), shared by the API and the worker.

Creating a Logger is cheap and touches no AWS service, so it may live at module level; the service
name comes from POWERTOOLS_SERVICE_NAME (set in .chalice/config.json).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="quarry")
