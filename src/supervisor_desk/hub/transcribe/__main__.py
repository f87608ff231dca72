"""``python -m supervisor_desk.hub.transcribe FILE [--skip N]``: see :mod:`.worker`."""

from supervisor_desk.hub.transcribe.worker import main

raise SystemExit(main())
