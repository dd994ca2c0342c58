"""GET /config: the input rules, so clients (the page among them) never keep a copy of them."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import SettingsDep
from service.schemas.config import ConfigRead
from service.usecases.config import rules

router = APIRouter(tags=["config"])


@router.get("/config", response_model=ConfigRead)
def get_config(settings: SettingsDep) -> ConfigRead:
    """Ticker pattern, interval levels, training bounds and size limits (open: nothing secret)."""
    return rules(settings)
