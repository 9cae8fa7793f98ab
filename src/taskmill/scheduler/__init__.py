"""The run loop and its parts: dispatcher, runner, completer, event bus, submission."""
