"""Quarry's Chalice entrypoints: HTTP routes, the SQS ingest worker, the delayed sweep and the reaper's
schedule. Logic lives in chalicelib."""

from chalice import Chalice, ConvertToMiddleware, Rate

from chalicelib.api.auth import signed_in
from chalicelib.api.http import (
    accepted,
    chalice_errors_in_our_shape,
    cors_for,
    created,
    map_domain_errors,
    parse_answer,
    parse_list_query,
    parse_search,
    parse_upload,
    sign_in_required,
    tenant_rate_limits,
)
from chalicelib.api.request_metrics import request_metrics
from chalicelib.bootstrap import container
from chalicelib.config import settings
from chalicelib.observability import logger
from chalicelib.sweeps import handle_sweep_batch
from chalicelib.worker import handle_batch

# The app's logger is named after it, "quarry": the Powertools logger's. Chalice's own set-up would
# turn it down to ERROR whenever stdout is not the stream the Powertools handler was made with.
app = Chalice(app_name="quarry", configure_logs=False)
app.register_middleware(cors_for(lambda: container().settings.web_origin), "http")
app.register_middleware(chalice_errors_in_our_shape, "http")
app.register_middleware(request_metrics(lambda: container().settings.stage), "http")
app.register_middleware(sign_in_required(lambda: container().token_verifier), "http")
app.register_middleware(
    tenant_rate_limits(lambda: container().rate_limiter, lambda: container().rate_limits), "http"
)
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))


@app.route("/health", methods=["GET"])
def health():
    return {"status": "ok"}


@app.route("/openapi.json", methods=["GET"])
def openapi():
    from chalicelib.api.openapi import openapi_spec  # built from the pydantic schemas: only when asked for

    return openapi_spec()


@app.route("/auth/config", methods=["GET"])
def sign_in_config():
    return container().sign_in_config


@app.route("/uploads", methods=["POST"])
def create_upload():
    request = parse_upload(app.current_request.raw_body)
    return created(container().documents.create_upload(signed_in().tenant, request))


@app.route("/documents", methods=["GET"])
def list_documents():
    query = parse_list_query(app.current_request.query_params)
    return container().documents.list(signed_in().tenant, query.status, query.limit, query.cursor)


@app.route("/documents/{document_id}", methods=["GET"])
def get_document(document_id):
    return container().documents.get(signed_in().tenant, document_id)


@app.route("/documents/{document_id}", methods=["DELETE"])
def delete_document(document_id):
    return container().documents.delete(signed_in().tenant, document_id)


@app.route("/documents/{document_id}/reindex", methods=["POST"])
def reindex_document(document_id):
    return accepted(container().documents.reindex(signed_in().tenant, document_id))


@app.route("/search", methods=["POST"])
def search():
    return container().search.search(signed_in().tenant, parse_search(app.current_request.raw_body))


@app.route("/usage", methods=["GET"])
def usage():
    return container().usage.report(signed_in().tenant, (app.current_request.query_params or {}).get("since"))


@app.route("/answer", methods=["POST"])
def answer():
    return container().answers.answer(signed_in().tenant, parse_answer(app.current_request.raw_body))


map_domain_errors(app)


@app.on_sqs_message(queue=settings().ingest_queue, batch_size=10)
def ingest(event):
    services = container()
    return handle_batch(
        event.to_dict(),
        event.context,
        services.ingest,
        services.settings.record_concurrency,
        services.retry_backoff,
        services.accounting,
        services.settings.stage,
    )


@app.on_sqs_message(queue=settings().sweep_queue, batch_size=10)
def sweep(event):
    return handle_sweep_batch(event.to_dict(), event.context, container().sweeps)


@app.schedule(Rate(settings().reaper_interval_minutes, unit=Rate.MINUTES))
def reap_abandoned(event):
    """Ends FAILED the documents whose worker died on their last delivery (chalicelib/reaper.py)."""
    report = container().reaper.reap()
    return {"examined": report.examined, "failed": report.failed}
