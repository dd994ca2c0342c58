"""pricecast's web service: API, database, jobs and CLI."""
