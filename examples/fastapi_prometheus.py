"""aiokv traced and measured with OpenTelemetry in a FastAPI app: metrics on a Prometheus
``/metrics`` page, spans printed to the console.

Run it (memory driver; no server needed)::

    pip install "aiokv[fastapi,otel]" opentelemetry-sdk opentelemetry-exporter-prometheus uvicorn
    uvicorn examples.fastapi_prometheus:app

Then::

    curl localhost:8000/products/1      # a miss: one computation, spans GET and SET
    curl localhost:8000/products/1      # a hit
    curl localhost:8000/metrics         # aiokv_cache_hits_total, db_client_operation_duration_...
    curl localhost:8000/stats           # the same counters from kv.stats(), without OpenTelemetry

The application owns the OpenTelemetry SDK: it sets the global tracer and meter providers
before the client opens, and ``otel=True`` (or ``KV_OTEL=1``) makes the client use them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from aiokv import AsyncClient
from aiokv.fastapi import KV, create_lifespan

resource = Resource.create({"service.name": "aiokv-prometheus-example"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
trace.set_tracer_provider(tracer_provider)
# The reader registers with prometheus_client's default registry, which /metrics renders.
metrics.set_meter_provider(
    MeterProvider(resource=resource, metric_readers=[PrometheusMetricReader()])
)


@asynccontextmanager
async def telemetry(app: FastAPI) -> AsyncIterator[None]:
    yield
    tracer_provider.force_flush()  # the spans still batched, before the process exits


kv = AsyncClient(otel=True)
app = FastAPI(
    title="aiokv with OpenTelemetry", lifespan=create_lifespan(kv, app_lifespan=telemetry)
)


class Product(BaseModel):
    id: int
    name: str


async def load_product(product_id: int) -> Product:
    """Stands for a slow database query."""
    return Product(id=product_id, name=f"product {product_id}")


@app.get("/products/{product_id}")
async def product(product_id: int, kv: KV) -> Product:
    return await kv.get_or_set(
        f"product:{product_id}", lambda: load_product(product_id), ttl=60, type=Product
    )


@app.get("/stats")
async def stats(kv: KV) -> dict[str, Any]:
    return dataclasses.asdict(kv.stats())


@app.get("/metrics")
async def metrics_page() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
