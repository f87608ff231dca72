"""Speech recognition of imported recordings: a worker process and the hub's job queue.

``worker`` runs in its own process (``python -m supervisor_desk.hub.transcribe FILE``) and
prints one JSON line per recognised segment; ``jobs`` runs in the hub, starts workers (at most
N at once), turns their lines into ordinary events and keeps each job's progress in the
database so a restarted hub resumes it.
"""
