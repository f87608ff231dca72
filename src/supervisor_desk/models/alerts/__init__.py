"""Alert rules: what a supervisor wants to be told about, and the engine that decides it.

Qt-free (the hub can run it headless later): :mod:`.rules` is the stored rule model,
:mod:`.conditions` judges one condition, :mod:`.engine` turns session changes and a clock
into alerts, :mod:`.defaults` is the rule set a new install gets.
"""
