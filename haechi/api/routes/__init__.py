"""The API's routes, one module per area; ``haechi.api.app.create_app`` includes them all."""
