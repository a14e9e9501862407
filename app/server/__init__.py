"""Running the app as a server: warm start, a server for tools, screenshots."""
