"""Qt layer: windows, table models, delegates, dialogs, tray."""
