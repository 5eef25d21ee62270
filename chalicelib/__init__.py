"""Quarry's logic, deployed to Lambda beside app.py: the domain (model, ports), the services (ingest,
search, documents, lifecycle, worker), the pipeline's steps (events, parsing, chunking, ranking), the
HTTP edge (api/), the adapters for AWS and for one machine (adapters/), adapter_factory, the one place
that picks them from settings (config), and bootstrap, which builds the services over them."""
