"""Compiles the echo test protos (centralita_fixtures/protos) to a temporary directory and serves the echo
test service with the kit (tests/kit, bench/dispatch.py, bench/chat_mcp.py)."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import grpc
from grpc_tools import protoc

from centralita.protogen import PROTO_ROOT

TEST_PROTOS = Path(__file__).resolve().parent / "protos"


def compile_protos(out_dir: Path, proto_dir: Path = TEST_PROTOS) -> Path:
    """Generate Python modules and a descriptor set (with comments) for the test protos."""
    out_dir.mkdir(parents=True, exist_ok=True)
    descriptor_set = out_dir / "test_descriptors.binpb"
    protos = [str(p.relative_to(proto_dir)) for p in sorted(proto_dir.rglob("*.proto"))]
    well_known = Path(protoc.__file__).parent / "_proto"
    rc = protoc.main(
        [
            "protoc",
            f"-I{proto_dir}",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            f"--descriptor_set_out={descriptor_set}",
            "--include_source_info",
            "--include_imports",
            *protos,
        ]
    )
    if rc != 0:
        raise RuntimeError("protoc failed on the test protos")
    for d in {out_dir / Path(p).parent for p in protos}:
        while d != out_dir:
            (d / "__init__.py").touch()
            d = d.parent
    return descriptor_set


def load_echo_modules(out_dir: Path):
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    importlib.invalidate_caches()
    return importlib.import_module("echo.v1.echo_pb2"), importlib.import_module("echo.v1.echo_pb2_grpc")


def make_servicer(pb2, pb2_grpc):
    class EchoServicer(pb2_grpc.EchoServiceServicer):
        def Echo(self, request, context):
            return pb2.EchoResponse(text=request.text)

        def Internal(self, request, context):
            return pb2.EchoResponse(text="internal:" + request.text)

        def EdgeCases(self, request, context):
            return pb2.EdgeCasesResponse(
                big=request.big,
                colour=request.colour,
                colours=list(request.colours),
                scope=request.WhichOneof("scope") or "",
                inner=request.inner,
            )

        def Misbehave(self, request, context):
            deadline = time.monotonic() + request.sleep_ms / 1000
            while time.monotonic() < deadline and context.is_active():
                time.sleep(0.01)
            if request.fail_with == "CRASH":
                raise RuntimeError(request.message)
            if request.fail_with:
                context.abort(getattr(grpc.StatusCode, request.fail_with), request.message)
            return pb2.MisbehaveResponse(status="ok")

    return EchoServicer()
