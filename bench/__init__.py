"""Load benchmark of todo-api against a minimal raw-ASGI floor; run it with `./dev bench`."""
