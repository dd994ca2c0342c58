"""`pricecast backtest`: train and evaluate the core on a CSV file (filled in by the models issue)."""
