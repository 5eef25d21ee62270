"""The HTTP edge: request models, JSON bodies in and domain errors out as 4xx, response views and the
OpenAPI description of the same shapes. Services never import it; app.py and its tests do."""
