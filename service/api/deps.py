"""FastAPI dependencies: the app's settings and its runtime (the use cases' database, queue and caches)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.settings import Settings
from service.usecases.runtime import Runtime


# Both are `async def` on purpose: FastAPI runs a plain `def` dependency in the thread pool,
# and that hop would cost the cached forecast path a good part of its time.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
