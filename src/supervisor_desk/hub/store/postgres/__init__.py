"""The hub's store on PostgreSQL (psycopg 3): the production backend for several replicas."""
