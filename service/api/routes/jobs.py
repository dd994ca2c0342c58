"""Training jobs: start one or many, watch, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from service.api.auth import Read, Train, Write
from service.api.deps import RuntimeDep, SettingsDep
from service.api.params import PathId, PathTicker, QueryTicker
from service.errors import InvalidInput
from service.schemas.errors import ErrorResponse
from service.schemas.training import BulkTrainRead, BulkTrainRequest, JobListRead, JobRead, TrainRequest
from service.tables import JobStatus
from service.usecases import training

router = APIRouter(tags=["jobs"])
_E = {code: {"model": ErrorResponse} for code in (404, 409, 422, 429, 503)}


@router.post("/series/{ticker}/train", response_model=JobRead, status_code=202, dependencies=[Train],
             responses={200: {"model": JobRead, "description": "A job for this ticker is already queued or running"},
                        **_E})
def train_ticker(ticker: PathTicker, response: Response, rt: RuntimeDep,
                 body: Annotated[TrainRequest | None, Body()] = None) -> JobRead:
    """Queue a training job for a ticker (202). While one is queued or running, that job is returned (200)."""
    job, created = training.train_ticker(rt, symbol=ticker, params=body.params() if body else None)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/jobs/{job.id}"
    return job


@router.post("/train", response_model=BulkTrainRead, status_code=202, responses=_E, dependencies=[Train])
def train_many(rt: RuntimeDep, body: Annotated[BulkTrainRequest, Body()]) -> BulkTrainRead:
    """Queue one job per ticker: exactly one of {"tickers": [...]}, {"all": true}, {"stale": true}.

    `stale` selects the tickers whose forecasts say `stale: true` (PRICECAST_STALE_AFTER or more
    prices past the active model's data). A request naming one ticker goes ahead of bulk work.
    """
    return training.request_training(rt, tickers=body.tickers, all_=bool(body.all), stale=bool(body.stale),
                                     params=body.params.params() if body.params else None).read()


@router.get("/jobs/{job_id}", response_model=JobRead, responses={404: _E[404]}, dependencies=[Read])
def get_job(job_id: PathId, rt: RuntimeDep) -> JobRead:
    """One job with its progress and loss history."""
    return training.read_job(rt, job_id=job_id)


@router.get("/jobs", response_model=JobListRead, responses={404: _E[404], 422: _E[422]}, dependencies=[Read])
def list_jobs(rt: RuntimeDep, settings: SettingsDep, ticker: QueryTicker = None, status: JobStatus | None = None,
              limit: Annotated[int, Query(ge=1, description="newest N (at most PRICECAST_JOBS_PAGE_MAX, 500)")] = 50,
              group: Annotated[int | None, Query(ge=1, description=(
                  "the jobs trained in one group: its id is the `group` in their progress"))] = None,
              ) -> JobListRead:
    """Jobs, newest first."""
    if limit > settings.jobs_page_max:
        raise InvalidInput(f"limit={limit}: must be at most {settings.jobs_page_max}", details={"field": "limit"})
    return training.read_jobs(rt, symbol=ticker, status=status, limit=limit, group=group)


@router.post("/jobs/{job_id}/cancel", response_model=JobRead, dependencies=[Write],
             responses={202: {"model": JobRead, "description": "Running: it stops at its next batch (about a second)"},
                        **_E})
def cancel_job(job_id: PathId, response: Response, rt: RuntimeDep) -> JobRead:
    """Cancel a queued job (200) or ask a running one to stop at its next batch (202)."""
    job = training.cancel(rt, job_id=job_id)
    if job.status == JobStatus.RUNNING:
        response.status_code = 202
    return job
