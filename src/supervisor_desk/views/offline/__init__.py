"""Offline review: an exported file opened in its own window, with no network at all.

:mod:`.loader` reads the file in a worker thread into the Qt-free ``OfflineIndex``;
:mod:`.window` is one opened file (History's view and the detail pane over
``models.offline_source``); :mod:`.review` opens files into windows; :mod:`.command` is
``supervisor-desk open FILE``.
"""

from supervisor_desk.views.offline.command import open_file_command
from supervisor_desk.views.offline.loader import OfflineLoader
from supervisor_desk.views.offline.review import OfflineReview
from supervisor_desk.views.offline.window import OfflineWindow

__all__ = ["OfflineLoader", "OfflineReview", "OfflineWindow", "open_file_command"]
