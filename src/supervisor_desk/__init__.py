"""Supervisor Desk: a desktop app for supervisors of AI-agent conversations, and its hub."""

APP_NAME = "Supervisor Desk"
APP_ID = "supervisor-desk"
__version__ = "0.1.0"
