"""`centralita serve legal_search` as a process: env config, index built at start, SIGTERM drain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from centralita.legal.v1 import legal_pb2, legal_pb2_grpc
from centralita_fixtures.legal_sample import generate
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]


def test_serve_builds_index_from_database_and_drains(tmp_path):
    data = tmp_path / "run"
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text("\n".join(json.dumps(d) for d, _ in generate(60, seed=2)) + "\n", encoding="utf-8")
    env = dict(
        os.environ,
        LEGAL_DATA_DIR=str(data),
        LEGAL_DB_URL="",
        LEGAL_INDEX_DIR="",
        LEGAL_SEARCH_PORT=str(free_port()),
        LEGAL_SEARCH_METRICS_PORT=str(free_port()),
        GRPC_BIND_HOST="127.0.0.1",
        GRPC_DRAIN_GRACE="1",
    )
    cli = [sys.executable, "-m", "centralita_suite.cli"]
    subprocess.run(
        [*cli, "ingest", "--no-progress", str(jsonl)], env=env, cwd=REPO, check=True, capture_output=True, timeout=120
    )
    import shutil

    shutil.rmtree(data / "whoosh")  # a replica starting without an index builds it from the database
    proc = subprocess.Popen(
        [*cli, "serve", "legal_search"], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{env['LEGAL_SEARCH_PORT']}")
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 60
        while True:
            try:
                status = health.Check(
                    health_pb2.HealthCheckRequest(service="centralita.legal.v1.LegalSearchService"), timeout=1
                ).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "server did not become healthy"
            time.sleep(0.2)
        stub = legal_pb2_grpc.LegalSearchServiceStub(channel)
        assert stub.GetDatabaseStats(legal_pb2.GetDatabaseStatsRequest(), timeout=5).total_documents == 60
        resp = stub.SearchContent(legal_pb2.SearchContentRequest(query="habilitación de comercios"), timeout=5)
        assert resp.results and resp.results[0].id == "merlo-ordenanza-2947-2024"
        channel.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
