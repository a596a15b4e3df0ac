#!/usr/bin/env python3
"""Generates the Python stubs of pushgate's contract (../../proto) with grpcio-tools.

    python gen.py [--out DIR]      # default: ./gen, beside this file

The stubs are a package `pushgate.v1` (`app_pb2`, `app_pb2_grpc`, ...) under DIR; put DIR on sys.path
(example.py does so for ./gen) or on PYTHONPATH.
"""

import argparse
import importlib.resources
import pathlib
import shutil
import sys

from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "gen")
    parser.add_argument("--proto-root", type=pathlib.Path, default=PROTO_ROOT)
    args = parser.parse_args()

    files = sorted(str(p.relative_to(args.proto_root)) for p in args.proto_root.glob("pushgate/v1/*.proto"))
    if not files:
        print(f"no .proto files under {args.proto_root}/pushgate/v1", file=sys.stderr)
        return 1
    # Only our own package is cleared, so stubs of a deleted .proto cannot linger and nothing else in DIR
    # is touched.
    shutil.rmtree(args.out / "pushgate", ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    # The google/protobuf/*.proto imports (Duration, Timestamp, FieldMask) ship inside grpcio-tools.
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{args.proto_root}",
            f"-I{well_known}",
            f"--python_out={args.out}",
            f"--pyi_out={args.out}",
            f"--grpc_python_out={args.out}",
            *files,
        ]
    )
    if code != 0:
        print(f"protoc failed with exit code {code}", file=sys.stderr)
        return code
    print(f"generated stubs for {len(files)} files into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
