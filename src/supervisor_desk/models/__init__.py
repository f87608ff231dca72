"""Qt-free domain: wire models, session state, filters, export format."""
