"""pricecast's ML core: pure torch and numpy. Never imports the service layer."""
