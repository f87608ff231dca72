"""The Analytics page: charts over time for the History filters (hub or offline file)."""
