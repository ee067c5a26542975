"""Generate the Python protobuf/gRPC modules and the descriptor set (with comments) from protos/.

Run as ``python -m centralita.protogen`` (``make protos``). The descriptor set keeps source info,
because tool and parameter descriptions come from proto comments, which generated modules drop.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent
PROTO_ROOT = REPO_ROOT / "protos"
OUT_DIR = PACKAGE_DIR.parent
DESCRIPTOR_SET = PACKAGE_DIR / "tool_descriptors.binpb"


def generate(
    proto_root: Path = PROTO_ROOT, out_dir: Path = OUT_DIR, descriptor_set: Path = DESCRIPTOR_SET
) -> list[Path]:
    protos = sorted(proto_root.rglob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {proto_root}")
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--descriptor_set_out={descriptor_set}",
        "--include_source_info",
        "--include_imports",
        *[str(p.relative_to(proto_root)) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed (see the messages above)")
    for proto in protos:
        package_dir = out_dir / proto.relative_to(proto_root).parent
        while package_dir != out_dir and package_dir != out_dir / "centralita":
            (package_dir / "__init__.py").touch(exist_ok=True)
            package_dir = package_dir.parent
    return protos


def main() -> None:
    protos = generate()
    print(f"generated {len(protos)} proto files into {OUT_DIR} and {DESCRIPTOR_SET.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
