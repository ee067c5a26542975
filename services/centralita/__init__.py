"""Centralita's shared kit: configuration, gRPC server bootstrap, tool schemas and the dispatcher.

The generated protobuf modules live beside this package (``centralita.<svc>.v1``) and are built by
``make protos``; nothing here imports them at package import time.
"""
