"""The Wall: many live transcripts at once, read-only."""
