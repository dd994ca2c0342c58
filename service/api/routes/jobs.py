"""Training jobs: start one or many, watch, cancel."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request, Response

from service import retraining, training
from service.api.auth import Read, Train, Write
from service.api.deps import SessionDep, SettingsDep
from service.errors import InvalidInput, Unavailable
from service.schemas import (
    BulkTrainRead,
    BulkTrainRequest,
    ErrorResponse,
    JobListRead,
    JobRead,
    PathId,
    PathTicker,
    QueryTicker,
    TrainAll,
    TrainRequest,
    TrainStale,
)
from service.uploads import normalise_ticker

log = logging.getLogger("pricecast.api")
router = APIRouter(tags=["jobs"])
_E = {code: {"model": ErrorResponse} for code in (404, 409, 422, 429, 503)}


def enqueue(request: Request, session, jobs: list) -> None:
    """Deliver committed jobs to the queue; a queue outage fails them with a clear message."""
    queue = request.app.state.queue
    for job in jobs:
        try:
            queue.enqueue(job.id, priority=job.priority)
        except Exception as exc:  # noqa: BLE001 - Redis down, disk full...
            log.exception("enqueue of job %s failed", job.id)
            job.status, job.error = "failed", f"could not reach the job queue: {type(exc).__name__}"
            session.commit()
            raise Unavailable(f"the job queue is unavailable ({type(exc).__name__}); retry shortly",
                              headers={"Retry-After": "5"}) from None


@router.post("/series/{ticker}/train", response_model=JobRead, status_code=202, dependencies=[Train],
             responses={200: {"model": JobRead, "description": "A job for this ticker is already queued or running"},
                        **_E})
def train_ticker(ticker: PathTicker, request: Request, response: Response, session: SessionDep, settings: SettingsDep,
                 body: Annotated[TrainRequest | None, Body()] = None) -> JobRead:
    """Queue a training job for a ticker (202). While one is queued or running, that job is returned (200)."""
    job, created = training.submit_training(session, settings=settings, symbol=normalise_ticker(ticker),
                                            params=body.params() if body else None)
    session.commit()
    if created:
        enqueue(request, session, [job])
    else:
        response.status_code = 200
    response.headers["Location"] = f"/jobs/{job.id}"
    return JobRead.of(job)


@router.post("/train", response_model=BulkTrainRead, status_code=202, responses=_E, dependencies=[Train])
def train_many(request: Request, session: SessionDep, settings: SettingsDep,
               body: Annotated[BulkTrainRequest, Body()]) -> BulkTrainRead:
    """Queue one job per ticker: exactly one of {"tickers": [...]}, {"all": true}, {"stale": true}."""
    jobs, errors, created = retraining.submit_bulk(
        session, settings=settings, tickers=getattr(body, "tickers", None), all_=isinstance(body, TrainAll),
        stale=isinstance(body, TrainStale), params=body.params.params() if body.params else None)
    session.commit()
    enqueue(request, session, created)
    return BulkTrainRead(jobs=[JobRead.of(j) for j in jobs], errors=errors)


@router.get("/jobs/{job_id}", response_model=JobRead, responses={404: _E[404]}, dependencies=[Read])
def get_job(job_id: PathId, session: SessionDep) -> JobRead:
    """One job with its progress and loss history."""
    return JobRead.of(training.get_job(session, job_id=job_id))


@router.get("/jobs", response_model=JobListRead, responses={404: _E[404], 422: _E[422]}, dependencies=[Read])
def list_jobs(session: SessionDep, settings: SettingsDep, ticker: QueryTicker = None,
              status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
              limit: Annotated[int, Query(ge=1, description="newest N (at most PRICECAST_JOBS_PAGE_MAX, 500)")] = 50,
              ) -> JobListRead:
    """Jobs, newest first."""
    if limit > settings.jobs_page_max:
        raise InvalidInput(f"limit={limit}: must be at most {settings.jobs_page_max}", details={"field": "limit"})
    symbol = normalise_ticker(ticker) if ticker is not None else None
    return JobListRead(jobs=[JobRead.of(j) for j in training.list_jobs(session, symbol=symbol, status=status,
                                                                       limit=limit)])


@router.post("/jobs/{job_id}/cancel", response_model=JobRead, dependencies=[Write],
             responses={202: {"model": JobRead, "description": "Running: it stops at the next epoch"}, **_E})
def cancel_job(job_id: PathId, response: Response, session: SessionDep) -> JobRead:
    """Cancel a queued job (200) or ask a running one to stop at its next epoch (202)."""
    job = training.cancel_job(session, job_id=job_id)
    session.commit()
    if job.status == "running":
        response.status_code = 202
    return JobRead.of(job)
