"""mikrotik_tool: the gRPC tool service in front of the ISP's MikroTik HTTP API.

Domain modules (client, cache, timeouts, queries, simulator) never import grpc; only
``servicer`` and ``server`` do.
"""
