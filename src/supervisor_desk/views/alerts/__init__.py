"""The desktop side of alert rules: the view-model driving the engine, the panel, the editor."""
