"""The hub: server that platforms push session events into and desktops read from."""
