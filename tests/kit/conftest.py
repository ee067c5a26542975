from __future__ import annotations

import pytest

from centralita.server import ServiceSpec, start_server
from centralita_fixtures.echo_service import compile_protos, load_echo_modules, make_servicer


@pytest.fixture(scope="session")
def echo_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("echo_gen")
    descriptor_set = compile_protos(out)
    pb2, pb2_grpc = load_echo_modules(out)
    return pb2, pb2_grpc, descriptor_set


@pytest.fixture
def echo_server(echo_build):
    pb2, pb2_grpc, descriptor_set = echo_build
    spec = ServiceSpec(
        pb2.DESCRIPTOR.services_by_name["EchoService"],
        make_servicer(pb2, pb2_grpc),
        pb2_grpc.add_EchoServiceServicer_to_server,
    )
    running = start_server([spec], port=0, host="127.0.0.1", metrics_port=0, descriptor_set=descriptor_set)
    yield running
    running.drain_and_stop(grace=0.5)
