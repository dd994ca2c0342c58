"""Training jobs: their parameters and cost (params), their rows (jobs), and running one (runner).

Bulk jobs trained together as one stack: service/grouptraining.py.
"""
