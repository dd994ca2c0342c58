"""HTTP request and response shapes (pydantic only: no FastAPI here, so use cases can return them).

One module per resource: `series`, `training` (jobs), `registry` (model versions), `forecasts`,
`config` and `health`; `errors` holds the error bodies, and `fields` the field types they share
(tickers, levels, ids, timestamps). Import a shape from its module; this package exports nothing.

Read shapes validate from domain objects and rows (`from_attributes`): what they declare is what
a client gets, and anything else on the object is filtered out. Dates are YYYY-MM-DD; timestamps
ISO 8601 UTC with Z. Input rules (tickers, levels, training bounds) come from their one home in
the domain; their messages say what is allowed, with an example.
"""
