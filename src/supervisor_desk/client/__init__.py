"""Qt-free network layer: REST client, feed client, credentials, settings."""
