"""The HTTP edge: request models, JSON bodies in and domain errors out as 4xx, response views and the
OpenAPI description of the same shapes. Services use only the request models and the views (plain
functions, see views.py), never http.py or Chalice."""
