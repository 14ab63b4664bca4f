"""The application shell: the app and its services, the main window, theme, crash
reporter, background runner, database monitor, change notices and the view registry."""
