"""The admin REST API (/api/v1): rooms, tokens and invites, participants, transcripts, search, stats."""

from __future__ import annotations

from fastapi import APIRouter

from parley_gateway.api import accounts, admin, languages, participants, rooms, stats, tokens, transcripts
from parley_gateway.api.errors import ERROR_RESPONSES, install_error_handlers

__all__ = ["install_error_handlers", "router"]

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
for module in (admin, accounts, rooms, languages, tokens, participants, transcripts, stats):
    router.include_router(module.router)
