"""Use cases: one function per user action, shared by the routes, the CLI and the workers.

Each one owns its unit of work (it opens the session, commits, and only then delivers jobs to the
queue), so an action behaves the same whichever way it arrives. They take a `Runtime` and return
the shapes of service/schemas/; they never import FastAPI. The domain modules under service/
(series, training, registry, forecasting, ...) flush and never commit.
"""
